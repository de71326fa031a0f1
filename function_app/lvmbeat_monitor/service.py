"""The monitor's use cases: what each route and the timer do, on an injected store,
mailer and clock. Read, decide (decide.py, pure), write with the ETag, then send.

The order is the point: a notice is claimed in storage before it is sent and marked
sent only after the mail backend accepted it. A lost race re-reads and re-decides; a
crash between claim and confirm lets another checker resend after the claim's lease
(a repeat, never a loss).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from typing import Any

from lvmbeat_monitor import __version__
from lvmbeat_monitor.clock import Clock, SystemClock, iso_z
from lvmbeat_monitor.decide import (
    CheckOutcome,
    OperatorDecision,
    Policy,
    decide_check,
    decide_disable,
    decide_enable,
    decide_notify,
    mark_failed,
    mark_sent,
)
from lvmbeat_monitor.mail import (
    Mailer,
    MailError,
    body_for,
    build_mailer,
    compose,
    subject_for,
    test_body,
    test_subject,
)
from lvmbeat_monitor.model import MonitorState, Notice, NoticeKind
from lvmbeat_monitor.settings import Settings, SettingsError
from lvmbeat_monitor.state import StateChanged, StateStore, StorageUnavailable


log = logging.getLogger(__name__)

# Attempts at one decision when other writers keep winning the ETag race.
MAX_RACE_ATTEMPTS = 10


class Contended(RuntimeError):
    """Other writers won the race every time; the next check will try again."""


@dataclass(frozen=True)
class CheckResult:
    outcome: CheckOutcome
    sent: NoticeKind | None = None
    error: str | None = None


@dataclass(frozen=True)
class NotifyResult:
    message: str
    sent: bool
    active: bool
    error: str | None = None


@dataclass(frozen=True)
class OperatorResult:
    message: str
    state: MonitorState


class MonitorService:
    """Heartbeat, status, enable/disable, notify, email test and the periodic check."""

    def __init__(
        self,
        settings: Settings,
        store: StateStore,
        *,
        clock: Clock | None = None,
        mailer_factory: Callable[[Settings], Mailer] = build_mailer,
        instance: str | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock or SystemClock()
        self._mailer_factory = mailer_factory
        self._mailer: Mailer | None = None
        # Who holds a claim: this process (one per Functions instance).
        self.instance = instance or uuid.uuid4().hex[:12]
        self.policy = Policy(
            send_email_after=timedelta(seconds=settings.send_email_after),
            check_period=settings.check_period,
        )

    # --- hot path ---------------------------------------------------------------

    def heartbeat(self) -> datetime:
        """Record a heartbeat: one unconditional write, no read, no email."""
        now = self.clock.now()
        self.store.record_heartbeat(now)
        return now

    # --- reads ------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """What /status answers: derived from one read, never written."""
        now = self.clock.now()
        snapshot = self.store.read()
        state = snapshot.state
        enabled = state.is_enabled(now) if state else True
        pending = state.pending if state else None
        return {
            "last_seen": iso_z(snapshot.last_seen),
            "enabled": enabled,
            "active": bool(state and state.active),
            "disabled_until": (
                iso_z(state.disabled_until) if state and not enabled else None
            ),
            "outage_last_seen": (
                iso_z(state.outage_last_seen) if state and state.active else None
            ),
            "pending": str(pending.notice.kind) if pending else None,
            "pending_attempts": pending.attempts if pending else 0,
            "last_error": state.last_error if state else None,
            "last_sent": str(state.last_sent_kind)
            if state and state.last_sent_kind
            else None,
            "last_sent_at": iso_z(state.last_sent_at) if state else None,
            "send_email_after": self.settings.send_email_after,
            "site_name": self.settings.site_name,
            "version": __version__,
            "now": iso_z(now),
        }

    # --- operator actions -------------------------------------------------------

    def enable(self) -> OperatorResult:
        result, _ = self._operator(lambda state, _seen, now: decide_enable(state, now))
        return result

    def disable(self, minutes: int | None) -> OperatorResult:
        result, _ = self._operator(
            lambda state, _seen, now: decide_disable(state, now, minutes)
        )
        return result

    def notify(self, kind: NoticeKind, *, force: bool) -> NotifyResult:
        """Send `kind` now if it changes the state, or anyway with `force`."""
        decision: OperatorDecision | None = None

        def decide(state, last_seen, now):
            nonlocal decision
            decision = decide_notify(
                state,
                last_seen,
                kind,
                now,
                self.policy,
                force=force,
                requester=f"notify-{self.instance}",
            )
            return decision

        result, etag = self._operator(decide)
        assert decision is not None
        if decision.send is None:
            return NotifyResult(
                decision.message, sent=False, active=result.state.active
            )
        error = self._deliver(decision.send, result.state, etag)
        if error is not None:
            return NotifyResult(
                f"Sending the {kind} notification failed",
                sent=False,
                active=result.state.active,
                error=error,
            )
        return NotifyResult(
            f"Sent: {subject_for(decision.send, self.settings.site_name)}.",
            sent=True,
            active=result.state.active,
        )

    def email_test(self) -> None:
        """Send a test message through the configured backend; MailError on failure."""
        now = self.clock.now()
        site = self.settings.site_name
        try:
            message = compose(
                self.settings, test_subject(site), test_body(site, now), now
            )
            mailer = self._mailer_or_raise()
        except SettingsError as error:  # what /email-test is for: say what is missing
            raise MailError(str(error)) from error
        mailer.send(message)

    # --- the timer --------------------------------------------------------------

    def check(self, *, past_due: bool = False) -> CheckResult:
        """One periodic check: at most one state write unless a notice is sent."""
        for _ in range(MAX_RACE_ATTEMPTS):
            now = self.clock.now()
            snapshot = self.store.read()
            decision = decide_check(
                snapshot.state,
                snapshot.last_seen,
                now,
                self.policy,
                checker=self.instance,
                past_due=past_due,
            )
            if decision.new_state is None:
                return CheckResult(decision.outcome)
            try:
                etag = self.store.save(decision.new_state, snapshot.etag)
            except StateChanged:
                continue  # another writer won: read again and decide again
            if decision.outcome in (CheckOutcome.RESUMED, CheckOutcome.STARTED):
                log.info(
                    "Check: %s at %s; silence counted from now.",
                    decision.outcome,
                    iso_z(now),
                )
            if decision.send is None:
                return CheckResult(decision.outcome)
            error = self._deliver(decision.send, decision.new_state, etag)
            return CheckResult(decision.outcome, decision.send.kind, error)
        raise Contended(
            f"Other writers changed the monitor state {MAX_RACE_ATTEMPTS} times in a "
            "row; this check gives up, the next one will decide again."
        )

    # --- internals --------------------------------------------------------------

    def _operator(self, decide) -> tuple[OperatorResult, str | None]:
        """Read, decide, write with the ETag; re-decide when another writer won.
        Returns the result and the ETag of the state it describes."""
        for _ in range(MAX_RACE_ATTEMPTS):
            now = self.clock.now()
            snapshot = self.store.read()
            decision = decide(snapshot.state, snapshot.last_seen, now)
            if decision.new_state is None:
                state = snapshot.state or MonitorState(started_at=now)
                return OperatorResult(decision.message, state), snapshot.etag
            try:
                etag = self.store.save(decision.new_state, snapshot.etag)
            except StateChanged:
                continue
            return OperatorResult(decision.message, decision.new_state), etag
        raise Contended(
            f"Other writers changed the monitor state {MAX_RACE_ATTEMPTS} times in a "
            "row; try again."
        )

    def _deliver(
        self, notice: Notice, state: MonitorState, etag: str | None
    ) -> str | None:
        """Send a claimed notice, then confirm (or record the failure) with the ETag
        of the claim; returns the error, None when sent."""
        error = self._send_notice(notice)
        if error is None:
            log.info("Sent the %s notification %s.", notice.kind, notice.id)
        else:
            log.error("Sending the %s notification failed: %s", notice.kind, error)
        try:
            for _ in range(MAX_RACE_ATTEMPTS):
                now = self.clock.now()
                after = (
                    mark_sent(state, notice.id, now)
                    if error is None
                    else mark_failed(state, notice.id, error)
                )
                if after is None or etag is None:
                    return error
                try:
                    self.store.save(after, etag)
                    return error
                except StateChanged:
                    snapshot = self.store.read()
                    if snapshot.state is None:
                        return error
                    state, etag = snapshot.state, snapshot.etag
        except StorageUnavailable as storage_error:
            log.error(
                "The %s notification %s was %s, but recording it failed: %s. "
                "A later check may send it again.",
                notice.kind,
                notice.id,
                "sent" if error is None else "not sent",
                storage_error,
            )
            return error
        log.error(
            "Could not record the outcome of notification %s: contended.", notice.id
        )
        return error

    def _send_notice(self, notice: Notice) -> str | None:
        site = self.settings.site_name
        try:
            message = compose(
                self.settings,
                subject_for(notice, site),
                body_for(notice, site, self.settings.send_email_after),
                self.clock.now(),
                notice_id=notice.id,
            )
            self._mailer_or_raise().send(message)
        except (MailError, SettingsError) as error:
            return str(error)
        return None

    def _mailer_or_raise(self) -> Mailer:
        if self._mailer is None:
            self._mailer = self._mailer_factory(self.settings)
        return self._mailer
