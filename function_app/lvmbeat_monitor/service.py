"""The monitor's use cases: what each route and the timer do, on an injected store,
channels and clock.

Everything that changes the state goes through one loop (`_transact`): read, decide
(decide.py, pure), write with the ETag; a lost race re-reads and re-decides. Then
`_deliver` sends what the decision claimed and settles the outcome the same way.

The order is the point: a notice is claimed in storage before it is sent and marked
delivered only after its channel accepted it. A crash between claim and settle lets
another writer resend after the claim's lease (a repeat, never a loss). Each
invocation claims with its own token, so a write that storage applied but answered
with an error is recognised as ours on the re-read.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from typing import Any

from lvmbeat_monitor import __version__
from lvmbeat_monitor.channels import ENABLING_SETTING, Channel, build_channels
from lvmbeat_monitor.clock import Clock, SystemClock, iso_z
from lvmbeat_monitor.decide import (
    CLAIM_LEASE,
    MAX_OUTBOX,
    SEND_DEADLINE,
    CheckOutcome,
    Claim,
    Decision,
    Policy,
    claim_next,
    decide_check,
    decide_disable,
    decide_enable,
    decide_notify,
    new_id,
    settle,
    silence_start,
)
from lvmbeat_monitor.errors import DeliveryError, ErrorKind
from lvmbeat_monitor.heartbeat_writes import HeartbeatWrites
from lvmbeat_monitor.history import (
    History,
    HistoryLog,
    delivery_facts,
    history_for,
    transition_facts,
)
from lvmbeat_monitor.model import MonitorState, Notice, NoticeKind
from lvmbeat_monitor.report import LastReport, Report
from lvmbeat_monitor.settings import Settings
from lvmbeat_monitor.state import (
    Snapshot,
    StateChanged,
    StateStore,
    StorageUnavailable,
)


log = logging.getLogger(__name__)

# Attempts at one decision when other writers keep winning the ETag race.
MAX_RACE_ATTEMPTS = 10
# Every check logs this, at ERROR, while a notice stays undelivered for longer than
# UNDELIVERED_AFTER_PERIODS check periods; an Azure Monitor alert rule
# (infra/modules/watcher.bicep) fires on it through Azure's own email, which does not
# depend on our mail path.
UNDELIVERED_MARKER = "NOTICE UNDELIVERED"
UNDELIVERED_AFTER_PERIODS = 3

Decide = Callable[[Snapshot, datetime], Decision]


def new_token() -> str:
    """A claim token unique to one invocation."""
    return uuid.uuid4().hex


class Contended(RuntimeError):
    """Other writers won the race every time; the next attempt will decide again."""


class CheckFailed(RuntimeError):
    """The check ran, but something it had to do failed (the message says what). It
    fails the timer invocation, so Azure Monitor counts it."""


@dataclass(frozen=True)
class Sent:
    """The outcome of one delivery attempt."""

    channel: str
    notice: Notice
    error: DeliveryError | None = None
    receipt: str | None = None  # what the channel answered (threads later notices)


@dataclass(frozen=True)
class CheckResult:
    outcome: CheckOutcome
    sent: tuple[Sent, ...] = ()
    busy: tuple[str, ...] = ()

    @property
    def failed(self) -> tuple[Sent, ...]:
        return tuple(attempt for attempt in self.sent if attempt.error is not None)


@dataclass(frozen=True)
class NotifyResult:
    message: str
    notice: Notice | None
    active: bool
    sent: tuple[Sent, ...] = ()
    # Channels where the notice waits behind one another writer is sending.
    queued: tuple[str, ...] = field(default_factory=tuple)

    @property
    def delivered(self) -> bool:
        """Every channel has it (nothing failed, nothing left queued)."""
        return (
            self.notice is not None
            and not self.queued
            and all(attempt.error is None for attempt in self.sent)
        )


@dataclass(frozen=True)
class OperatorResult:
    message: str
    state: MonitorState


class MonitorService:
    """Heartbeat, status, enable/disable, notify, channel tests and the check."""

    def __init__(
        self,
        settings: Settings,
        store: StateStore,
        *,
        clock: Clock | None = None,
        channels: Mapping[str, Channel] | None = None,
        make_id: Callable[[], str] = new_id,
        history: HistoryLog | None = None,
        make_token: Callable[[], str] = new_token,
        claim_lease: timedelta = CLAIM_LEASE,
    ) -> None:
        self.settings = settings
        self.store = store
        # What happened, for people (the status page, /history); outside the state.
        self.history_log = history or history_for(
            store, retention_days=settings.history_days
        )
        self.clock = clock or SystemClock()
        self.channels = dict(build_channels(settings) if channels is None else channels)
        self._make_id = make_id
        # Concurrent heartbeats share writes; `self.store` is read at each write.
        self._heartbeat_writes: HeartbeatWrites[Report] = HeartbeatWrites(
            lambda at, report: self.store.record_heartbeat(at, report), self.clock.now
        )
        # Injected so the protocol explorer (tests/protocol) can name each claimer and
        # use a lease measured in seconds rather than minutes.
        self._make_token = make_token
        self.policy = Policy(
            grace=timedelta(seconds=settings.send_email_after),
            check_period=settings.check_period,
            channels=tuple(sorted(self.channels)),
            remind_every=timedelta(seconds=settings.remind_every),
            claim_lease=claim_lease,
        )

    async def close(self) -> None:
        """Release storage and channel connections (the process is ending)."""
        await self.store.close()
        for channel in self.channels.values():
            await channel.close()

    # --- hot path ---------------------------------------------------------------

    async def heartbeat(self, report: Report | None = None) -> datetime:
        """Record a heartbeat and the actor's report that came with it: one
        unconditional write, no read, no sending; heartbeats that arrive during a
        write share the next one (heartbeat_writes)."""
        return await self._heartbeat_writes.record(report)

    # --- reads ------------------------------------------------------------------

    async def status(self) -> dict[str, Any]:
        """What /status answers: derived from one read, never written. Errors are
        kinds only: this answer is anonymous."""
        now = self.clock.now()
        snapshot = await self.store.read()
        state, last_seen = snapshot.state, snapshot.last_seen
        disabled = state is not None and state.is_disabled(now)
        outage = state.outage if state else None
        heads = {
            name: state.channel_head(name) if state else None for name in self.channels
        }
        channels = {
            name: {
                "pending": str(head[0].notice.kind) if head else None,
                "last_error": head[1].error if head else None,
            }
            for name, head in heads.items()
        }
        oldest = state.outbox[0] if state and state.outbox else None
        errors = [c["last_error"] for c in channels.values() if c["last_error"]]
        since = silence_start(state, last_seen) if state and last_seen else None
        return {
            "state": self._condition(state, last_seen, now),
            "last_seen": iso_z(last_seen),
            "enabled": not disabled,
            "active": outage is not None,
            "disabled_until": iso_z(state.disabled_until) if disabled else None,
            "silent_since": iso_z(since)
            if since and now - since > self.policy.late_after
            else None,
            "outage": {
                "declared_at": iso_z(outage.declared_at),
                "last_seen": iso_z(outage.last_seen),
                "silent_since": iso_z(outage.silent_since),
            }
            if outage
            else None,
            "pending": str(oldest.notice.kind) if oldest else None,
            "last_error": errors[0] if errors else None,
            "channels": channels,
            "last_check": iso_z(state.last_check) if state else None,
            # Anonymous on purpose: report.py lets only bools, times, a version and
            # plain-word heartbeat names through, nothing an outsider should not see.
            "last_report": snapshot.last_report.as_json()
            if snapshot.last_report
            else None,
            "send_email_after": self.settings.send_email_after,
            "site_name": self.settings.site_name,
            "version": __version__,
            "now": iso_z(now),
        }

    async def history(self, days: int) -> History:
        """Outages and maintenance windows of the last `days` days, newest first."""
        return await self.history_log.read(self.clock.now() - timedelta(days=days))

    def _condition(
        self, state: MonitorState | None, last_seen: datetime | None, now: datetime
    ) -> str:
        """One word for people: down, disabled, waiting (for the first heartbeat),
        late or up."""
        if state is not None and state.outage is not None:
            return "down"
        if state is not None and state.is_disabled(now):
            return "disabled"
        if last_seen is None:
            return "waiting"
        since = silence_start(state, last_seen) if state else last_seen
        return "late" if now - since > self.policy.late_after else "up"

    # --- operator actions -------------------------------------------------------

    async def enable(self) -> OperatorResult:
        decision, state = await self._operator(
            lambda snap, now: decide_enable(snap.state, now)
        )
        return OperatorResult(decision.message, state)

    async def disable(self, minutes: int | None) -> OperatorResult:
        decision, state = await self._operator(
            lambda snap, now: decide_disable(snap.state, now, minutes)
        )
        return OperatorResult(decision.message, state)

    async def notify(self, kind: NoticeKind, *, force: bool) -> NotifyResult:
        """Queue `kind` if it changes the state (or anyway with `force`) and deliver
        what can go out now. It never overtakes a notice another writer is sending:
        on such a channel it waits its turn and a later check delivers it."""
        token = self._token()
        decision, state, etag, report = await self._transact(
            lambda snap, now: decide_notify(
                snap.state,
                snap.last_seen,
                kind,
                now,
                self.policy,
                force=force,
                token=token,
                make_id=self._make_id,
            )
        )
        self._log_dropped(decision)
        active = state is not None and state.outage is not None
        notice = _queued_notice(decision, state)
        if notice is None:
            return NotifyResult(decision.message, None, active)
        sent, state = await self._deliver(decision.claims, state, etag, token, report)
        waiting = _channels_holding(state, notice)
        log.info(
            "Operator notify: the %s notification %s; delivered on %s, waiting on %s.",
            kind,
            notice.id,
            [s.channel for s in sent if s.notice.id == notice.id and not s.error]
            or "none",
            waiting or "none",
        )
        failed = {s.channel for s in sent if s.error}
        queued = tuple(name for name in waiting if name not in failed)
        return NotifyResult(
            decision.message, notice, active, sent=tuple(sent), queued=queued
        )

    async def send_test(self, channel: str) -> None:
        """Send a TEST message on one channel; DeliveryError on failure."""
        target = self.channels.get(channel)
        if target is None:
            setting = ENABLING_SETTING.get(channel, "its settings")
            raise DeliveryError(
                f"The {channel} channel is not configured; set {setting} to turn it "
                "on.",
                ErrorKind.MISCONFIGURED,
            )
        async with asyncio.timeout(SEND_DEADLINE.total_seconds()):
            await target.send_test(self.clock.now())

    # --- the timer --------------------------------------------------------------

    async def check(self, *, past_due: bool = False) -> CheckResult:
        """One periodic check. Raises CheckFailed after recording, when a delivery
        failed, so the timer invocation counts as failed."""
        token = self._token()
        decision, state, etag, report = await self._transact(
            lambda snap, now: decide_check(
                snap.state,
                snap.last_seen,
                now,
                self.policy,
                token=token,
                make_id=self._make_id,
            )
        )
        outcome = decision.outcome or CheckOutcome.QUIET
        if outcome is CheckOutcome.STARTED:
            log.warning(
                "Check: no monitor state found; starting afresh, counting any "
                "silence from now. Expected once on a new deployment; otherwise the "
                "state was lost (table deleted?), and any timed disable or declared "
                "outage with it."
            )
        elif outcome is CheckOutcome.RESUMED:
            log.warning(
                "Check: no check ran for more than %s s before this one (past_due=%s): "
                "the monitor was not running, so the silence counts from now.",
                f"{self.policy.gap_after.total_seconds():g}",
                past_due,
            )
        elif outcome in (
            CheckOutcome.ALERT,
            CheckOutcome.ALL_CLEAR,
            CheckOutcome.REMINDER,
        ):
            log.info("Check: %s.", outcome)
        self._log_dropped(decision)
        sent, state = await self._deliver(decision.claims, state, etag, token, report)
        self._log_undelivered(state)
        result = CheckResult(outcome, tuple(sent), decision.busy)
        if result.failed:
            raise CheckFailed(
                "Check "
                + str(outcome)
                + ": "
                + "; ".join(
                    f"the {s.notice.kind} notification on {s.channel} failed "
                    f"({s.error.kind}: {s.error}); every check retries it"
                    for s in result.failed
                )
                + "."
            )
        return result

    # --- the loop ---------------------------------------------------------------

    async def _transact(
        self, decide: Decide
    ) -> tuple[Decision, MonitorState | None, str | None, LastReport | None]:
        """Read, decide, write with the ETag; re-decide when another writer won.
        Returns the decision, the state it leaves, that state's ETag and the actor's
        last report as read (notices quote it)."""
        for _ in range(MAX_RACE_ATTEMPTS):
            now = self.clock.now()
            snapshot = await self.store.read()
            decision = decide(snapshot, now)
            if decision.new_state is None:
                return decision, snapshot.state, snapshot.etag, snapshot.last_report
            try:
                etag = await self.store.save(decision.new_state, snapshot.etag)
            except StateChanged:
                continue  # another writer won (or ours applied): read, decide again
            except StorageUnavailable:
                # The write may have applied before the error: if the row now holds
                # exactly what we wrote, it is ours; otherwise decide again.
                written = await self._applied(decision.new_state)
                if written is None:
                    continue
                etag = written
            # After the ETag write, never inside it: history cannot block an alert.
            await self.history_log.record(
                transition_facts(snapshot.state, decision.new_state, now), now
            )
            return decision, decision.new_state, etag, snapshot.last_report
        raise Contended(
            f"Other writers changed the monitor state {MAX_RACE_ATTEMPTS} times in a "
            "row; giving up this time, the next attempt decides again."
        )

    async def _applied(self, written: MonitorState) -> str | None:
        """After a write answered with an error: the ETag of the row if it holds
        exactly `written` (the write applied; the claim token in it makes it ours),
        else None. Raises StorageUnavailable when storage cannot be read either."""
        snapshot = await self.store.read()
        return snapshot.etag if snapshot.state == written else None

    async def _operator(self, decide: Decide) -> tuple[Decision, MonitorState]:
        decision, state, _, _ = await self._transact(decide)
        return decision, state or decision.new_state or _never_written(self.clock)

    async def _deliver(
        self,
        claims: tuple[Claim, ...],
        state: MonitorState | None,
        etag: str | None,
        token: str,
        report: LastReport | None = None,
    ) -> tuple[list[Sent], MonitorState | None]:
        """Send what was claimed, settle, and keep going on channels that delivered
        while they have more queued (an all-clear behind a retried alert). Each notice
        goes out with the actor's last report (LCO's last word), read with the state:
        it is stored once, with the heartbeat, not copied into the outbox."""
        sent: list[Sent] = []
        for _ in range(MAX_OUTBOX + 1):
            if not claims:
                break
            attempts = await asyncio.gather(
                *(self._send(claim, report) for claim in claims)
            )
            sent.extend(attempts)
            state, etag = await self._settle(attempts, state, etag, token)
            delivered = {a.channel for a in attempts if a.error is None}
            known = claim_next(state, self.clock.now(), self.policy, token, delivered)
            if not known.claims:
                break  # nothing more queued on those channels: no read needed
            decision, state, etag, report = await self._transact(
                functools.partial(self._claim_next, token=token, channels=delivered)
            )
            claims = decision.claims
        return sent, state

    def _claim_next(
        self, snapshot: Snapshot, now: datetime, *, token: str, channels: set[str]
    ) -> Decision:
        return claim_next(snapshot.state, now, self.policy, token, channels)

    async def _send(self, claim: Claim, report: LastReport | None) -> Sent:
        notice, channel = claim.notice, self.channels[claim.channel]
        notice = dataclasses.replace(notice, report=report)
        try:
            async with asyncio.timeout(SEND_DEADLINE.total_seconds()):
                receipt = await channel.deliver(
                    notice, self.clock.now(), thread=claim.thread
                )
        except DeliveryError as error:
            log.error(
                "The %s notification %s was not delivered on %s: %s",
                notice.kind,
                notice.id,
                claim.channel,
                error,
            )
            return Sent(claim.channel, notice, error)
        except TimeoutError:
            error = DeliveryError(
                f"no answer within {SEND_DEADLINE.total_seconds():g} s",
                ErrorKind.TIMEOUT,
            )
            log.error(
                "The %s notification %s was not delivered on %s: %s",
                notice.kind,
                notice.id,
                claim.channel,
                error,
            )
            return Sent(claim.channel, notice, error)
        except Exception as error:  # noqa: BLE001 - a bug of ours: logged, kept pending
            log.exception(
                "Delivering the %s notification %s on %s failed unexpectedly.",
                notice.kind,
                notice.id,
                claim.channel,
            )
            return Sent(
                claim.channel, notice, DeliveryError(repr(error), ErrorKind.INTERNAL)
            )
        log.info(
            "Delivered the %s notification %s on %s%s.",
            notice.kind,
            notice.id,
            claim.channel,
            " in the outage's thread" if claim.thread else "",
        )
        return Sent(claim.channel, notice, receipt=receipt)

    async def _settle(
        self,
        attempts: list[Sent],
        state: MonitorState | None,
        etag: str | None,
        token: str,
    ) -> tuple[MonitorState | None, str | None]:
        """Record what went out and what failed, with the ETag of our own last write
        first, re-reading only when someone wrote since."""
        results = {
            (a.notice.id, a.channel): (a.error.kind if a.error else None)
            for a in attempts
        }
        receipts = {(a.notice.id, a.channel): a.receipt for a in attempts if a.receipt}
        try:
            for _ in range(MAX_RACE_ATTEMPTS):
                after = settle(state, results, token, receipts) if state else None
                if after is None:
                    return state, etag
                try:
                    saved = await self.store.save(after, etag)
                except StateChanged:
                    saved = None
                except StorageUnavailable:
                    saved = await self._applied(after)
                if saved is not None:
                    delivered = [(a.notice, a.channel) for a in attempts if not a.error]
                    now = self.clock.now()
                    facts = delivery_facts(delivered, after, now)
                    await self.history_log.record(facts, now)
                    return after, saved
                snapshot = await self.store.read()
                state, etag = snapshot.state, snapshot.etag
        except StorageUnavailable as error:
            log.error(
                "Recording the outcome of %s failed: %s A later check may send the "
                "delivered ones again (with the same Message-ID).",
                ", ".join(f"{a.notice.kind} on {a.channel}" for a in attempts),
                error,
            )
            raise
        raise Contended(
            "Other writers kept changing the monitor state while this check recorded "
            "what it sent; a later check may send it again."
        )

    # --- logs -------------------------------------------------------------------

    def _log_undelivered(self, state: MonitorState | None) -> None:
        if state is None:
            return
        now = self.clock.now()
        overdue = self.policy.check_period * UNDELIVERED_AFTER_PERIODS
        for pending in state.outbox:
            if now - pending.notice.decided_at <= overdue:
                continue
            for channel, delivery in pending.deliveries:
                log.error(
                    "%s: the %s notification %s is not out on %s after %d attempts "
                    "since %s; last error kind: %s.",
                    UNDELIVERED_MARKER,
                    pending.notice.kind,
                    pending.notice.id,
                    channel,
                    delivery.attempts,
                    iso_z(pending.notice.decided_at),
                    delivery.error or "none yet",
                )

    def _log_dropped(self, decision: Decision) -> None:
        for notice in decision.dropped:
            log.error(
                "Dropped the undelivered %s notification %s (decided %s): more than "
                "%d notices were waiting for a channel that keeps failing.",
                notice.kind,
                notice.id,
                iso_z(notice.decided_at),
                MAX_OUTBOX,
            )

    def _token(self) -> str:
        """A claim token for this invocation alone."""
        return self._make_token()


def _queued_notice(decision: Decision, state: MonitorState | None) -> Notice | None:
    """The notice an operator's decision queued (the newest in the outbox)."""
    if decision.new_state is None or not decision.new_state.outbox:
        return None
    return decision.new_state.outbox[-1].notice


def _channels_holding(state: MonitorState | None, notice: Notice) -> list[str]:
    if state is None:
        return []
    for pending in state.outbox:
        if pending.notice.id == notice.id:
            return [name for name, _ in pending.deliveries]
    return []


def _never_written(clock: Clock) -> MonitorState:
    now = clock.now()
    return MonitorState(counting_from=now, last_check=now)
