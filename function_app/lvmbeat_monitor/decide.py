"""The alert rules, as pure functions: state + heartbeat + now + policy -> decision.

No I/O here. The caller (service.py) writes the decided state with an ETag condition,
and only after that write succeeded sends what it claimed; a lost race re-reads and
calls these functions again. Every rule is one short unit test, and the exhaustive
explorer in tests/protocol drives them through every interleaving.

The rules, in the order a check applies them (docs/monitor.md has the same table):
1. Every check records itself (`last_check`). A gap longer than `gap_after` since
   the previous check means the monitor was not running: silence counts from now.
2. A timed disable that ran out ends; silence counts from its end.
3. Disabled: nothing new is decided. Declared outage: a heartbeat since ends it (UP).
   No heartbeat ever: waiting for the first one (a new monitor cannot alert before
   the actor has reached it once). Otherwise a silence longer than the grace, counted
   from the later of the last heartbeat and `counting_from`, declares an outage (DOWN).
   While an outage lasts (and monitoring is enabled), each `remind_every` since it was
   declared queues one reminder (REMIND); the outage counts them, so each is queued
   once.
4. Each channel's oldest undelivered notice is claimed for sending, unless another
   checker's lease on it still runs. Channels are independent: one that fails is
   retried alone, and never holds the others back. A claim carries the channel's
   receipt for the outage's first delivered notice, so later ones join its thread.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from lvmbeat_monitor.model import (
    NEVER,
    Delivery,
    MonitorState,
    Notice,
    NoticeKind,
    Outage,
    Pending,
    Receipt,
)


# Heartbeats come every 15 s by default (the actor's outside_monitor.interval); a
# silence longer than this, or than a check period, is reported as "late".
HEARTBEAT_LATE_AFTER = timedelta(seconds=30)
# How long a checker may take to deliver what it claimed before another may take
# over. Longer than host.json's functionTimeout (2 min) plus a margin, so no claimer
# can still be sending when its lease ends (tests/monitor/test_monitor_package.py).
CLAIM_LEASE = timedelta(minutes=3)
# Every send, on every channel, ends within this; well below the lease.
SEND_DEADLINE = timedelta(seconds=45)
# Instances' clocks may differ by about this much (NTP-synced hosts).
CLOCK_ALLOWANCE = timedelta(seconds=1)
# Notices kept for a channel that keeps failing; older ones are dropped, with an error
# in the log, so one dead channel cannot grow the state without bound.
MAX_OUTBOX = 20


@dataclass(frozen=True)
class Policy:
    """The numbers the rules use, from the settings (which refuse a grace shorter
    than two check periods: settings.py)."""

    grace: timedelta  # LVMBEAT_SEND_EMAIL_AFTER
    check_period: timedelta  # from LVMBEAT_CHECK_SCHEDULE
    channels: tuple[str, ...] = ("email",)
    claim_lease: timedelta = CLAIM_LEASE
    # LVMBEAT_REMIND_EVERY; zero: no reminders.
    remind_every: timedelta = timedelta(0)

    @property
    def late_after(self) -> timedelta:
        """A silence longer than this is shown as late (no effect on the rules)."""
        return min(max(self.check_period, HEARTBEAT_LATE_AFTER), self.grace)

    @property
    def gap_after(self) -> timedelta:
        """No check for longer than this: the monitor missed a scheduled check, so it
        was not running (or could not reach its storage), and heartbeats may have been
        lost meanwhile."""
        return self.check_period * 3 / 2 + CLOCK_ALLOWANCE


class CheckOutcome(StrEnum):
    """What a check found, for logs, tests and /status."""

    STARTED = "started"  # first check ever: state created, counting starts now
    RESUMED = "resumed"  # checks had stopped: the silence counts from now
    UNARMED = "unarmed"  # no heartbeat ever: waiting for the actor's first one
    QUIET = "quiet"  # heartbeats current
    WATCHING = "watching"  # heartbeat late, grace not over
    DISABLED = "disabled"  # monitoring is off: nothing new decided
    WAITING = "waiting"  # outage declared, no heartbeat since
    REMINDER = "reminder"  # outage declared, no heartbeat since: REMIND queued
    ALERT = "alert"  # outage declared now: DOWN queued
    ALL_CLEAR = "all_clear"  # a heartbeat ended the outage: UP queued


@dataclass(frozen=True)
class Claim:
    """A notice this writer claimed for one channel: send it, then settle."""

    channel: str
    notice: Notice
    # The channel's receipt for the outage's first delivered notice (Slack ts, email
    # Message-ID): what this notice replies to. None: it starts the thread.
    thread: str | None = None


@dataclass(frozen=True)
class Decision:
    """What to write (None: nothing) and what to send once the write succeeded."""

    outcome: CheckOutcome | None
    new_state: MonitorState | None
    claims: tuple[Claim, ...] = ()
    busy: tuple[str, ...] = ()  # channels whose next notice another writer is sending
    dropped: tuple[Notice, ...] = ()  # notices given up on (MAX_OUTBOX)
    message: str = ""  # for operator actions: what to tell the caller


IdFactory = Callable[[], str]


def new_id() -> str:
    return uuid.uuid4().hex


def initial_state(now: datetime) -> MonitorState:
    return MonitorState(counting_from=now, last_check=now)


def silence_start(state: MonitorState, last_seen: datetime | None) -> datetime:
    """Where the current silence counts from: the last heartbeat, unless the monitor
    started watching later than that."""
    if last_seen is None:
        return state.counting_from
    return max(last_seen, state.counting_from)


# --- the timer -----------------------------------------------------------------------


def decide_check(
    state: MonitorState | None,
    last_seen: datetime | None,
    now: datetime,
    policy: Policy,
    *,
    token: str,
    make_id: IdFactory = new_id,
) -> Decision:
    """What this check must write and send."""
    if state is None:
        return Decision(CheckOutcome.STARTED, initial_state(now))
    running, resumed = _record_check(state, now, policy)
    running = _end_timed_disable(running, now)
    outcome, running, dropped = _transition(running, last_seen, now, policy, make_id)
    if resumed and outcome in (CheckOutcome.QUIET, CheckOutcome.WATCHING):
        outcome = CheckOutcome.RESUMED
    running, claims, busy = claim_heads(running, now, policy, token)
    if (
        not claims
        and replace(running, last_check=state.last_check) == state
        and now - state.last_check < policy.check_period / 2
    ):
        # Nothing new, and another instance recorded this very round: one is enough.
        return Decision(outcome, None, busy=busy)
    return Decision(outcome, running, claims, busy, dropped)


def _record_check(
    state: MonitorState, now: datetime, policy: Policy
) -> tuple[MonitorState, bool]:
    if now - state.last_check > policy.gap_after:
        resumed = replace(
            state, counting_from=max(state.counting_from, now), last_check=now
        )
        return resumed, True
    return replace(state, last_check=max(state.last_check, now)), False


def _end_timed_disable(state: MonitorState, now: datetime) -> MonitorState:
    until = state.disabled_until
    if until is None or until == NEVER or now < until:
        return state
    return replace(
        state, disabled_until=None, counting_from=max(state.counting_from, until)
    )


def _transition(
    state: MonitorState,
    last_seen: datetime | None,
    now: datetime,
    policy: Policy,
    make_id: IdFactory,
) -> tuple[CheckOutcome, MonitorState, tuple[Notice, ...]]:
    if state.is_disabled(now):
        return CheckOutcome.DISABLED, state, ()
    if state.outage is not None:
        outage = state.outage
        if last_seen is None or (
            outage.last_seen is not None and last_seen <= outage.last_seen
        ):
            return _remind(state, outage, now, policy, make_id)
        notice = Notice(
            id=make_id(),
            kind=NoticeKind.UP,
            decided_at=now,
            last_seen=outage.last_seen,
            silent_since=outage.silent_since,
            back_at=last_seen,
            outage_id=outage.id,
        )
        ended, dropped = queue(replace(state, outage=None), notice, policy)
        return CheckOutcome.ALL_CLEAR, ended, dropped
    if last_seen is None:
        return CheckOutcome.UNARMED, state, ()
    since = silence_start(state, last_seen)
    silence = now - since
    if silence <= policy.grace:
        quiet = silence <= policy.late_after
        return (CheckOutcome.QUIET if quiet else CheckOutcome.WATCHING), state, ()
    notice_id = make_id()
    notice = Notice(
        id=notice_id,
        kind=NoticeKind.DOWN,
        decided_at=now,
        last_seen=last_seen,
        silent_since=since,
        outage_id=notice_id,
    )
    outage = Outage(notice.id, now, last_seen, since)
    declared, dropped = queue(replace(state, outage=outage), notice, policy)
    return CheckOutcome.ALERT, declared, dropped


def _remind(
    state: MonitorState,
    outage: Outage,
    now: datetime,
    policy: Policy,
    make_id: IdFactory,
) -> tuple[CheckOutcome, MonitorState, tuple[Notice, ...]]:
    """Queue the reminder that is due, if one is. Reminder n is due `n * remind_every`
    after the outage was declared; when checks missed several (the monitor was away),
    only the latest is sent: people need to hear "still down" once, not a burst."""
    every = policy.remind_every
    if every <= timedelta(0):
        return CheckOutcome.WAITING, state, ()
    due = (now - outage.declared_at) // every
    if due <= outage.reminded:
        return CheckOutcome.WAITING, state, ()
    notice = Notice(
        id=make_id(),
        kind=NoticeKind.REMIND,
        decided_at=now,
        last_seen=outage.last_seen,
        silent_since=outage.silent_since,
        outage_id=outage.id,
        reminder=due,
    )
    counted = replace(state, outage=replace(outage, reminded=due))
    reminded, dropped = queue(counted, notice, policy)
    return CheckOutcome.REMINDER, reminded, dropped


# --- the outbox ----------------------------------------------------------------------


def queue(
    state: MonitorState, notice: Notice, policy: Policy
) -> tuple[MonitorState, tuple[Notice, ...]]:
    """Add a notice for every configured channel; drop the oldest beyond MAX_OUTBOX."""
    deliveries = tuple((channel, Delivery()) for channel in sorted(policy.channels))
    if not deliveries:
        return state, ()
    outbox = (*state.outbox, Pending(notice, deliveries))
    excess = outbox[: max(0, len(outbox) - MAX_OUTBOX)]
    return replace(state, outbox=outbox[len(excess) :]), tuple(
        pending.notice for pending in excess
    )


def claim_heads(
    state: MonitorState,
    now: datetime,
    policy: Policy,
    token: str,
    channels: Collection[str] | None = None,
) -> tuple[MonitorState, tuple[Claim, ...], tuple[str, ...]]:
    """Claim each channel's oldest undelivered notice (of `channels`, default all),
    unless another writer's lease on it runs. Deliveries for channels no longer
    configured are dropped."""
    state = _forget_unconfigured(state, policy)
    claims: list[Claim] = []
    busy: list[str] = []
    wanted = policy.channels if channels is None else channels
    for channel in sorted(set(wanted) & set(policy.channels)):
        head = state.channel_head(channel)
        if head is None:
            continue
        pending, delivery = head
        if delivery.held_by_other(now, token):
            busy.append(channel)
            continue
        claimed = replace(delivery, claim=token, claimed_until=now + policy.claim_lease)
        state = _replace_pending(state, pending.with_delivery(channel, claimed))
        thread = state.thread_of(pending.notice.outage_id, channel)
        claims.append(Claim(channel, pending.notice, thread))
    return state, tuple(claims), tuple(busy)


def _forget_unconfigured(state: MonitorState, policy: Policy) -> MonitorState:
    configured = set(policy.channels)
    kept = []
    for pending in state.outbox:
        deliveries = tuple(item for item in pending.deliveries if item[0] in configured)
        if deliveries:
            kept.append(replace(pending, deliveries=deliveries))
    outbox = tuple(kept)
    return state if outbox == state.outbox else replace(state, outbox=outbox)


def _replace_pending(state: MonitorState, updated: Pending) -> MonitorState:
    outbox = tuple(
        updated if pending.notice.id == updated.notice.id else pending
        for pending in state.outbox
    )
    return replace(state, outbox=tuple(p for p in outbox if p.deliveries))


def settle(
    state: MonitorState,
    results: Mapping[tuple[str, str], str | None],
    token: str,
    receipts: Mapping[tuple[str, str], str] | None = None,
) -> MonitorState | None:
    """The state once sends came back: `results` maps (notice id, channel) to None
    (delivered) or the kind of error. A delivered channel leaves the notice; a failed
    one is released (if still ours) so the next check retries it. `receipts` maps
    (notice id, channel) to what the channel answered; the first one of an outage on
    a channel becomes that outage's thread there. None: nothing to write (someone
    else settled it already)."""
    settled = state
    for (notice_id, channel), error in results.items():
        pending = next((p for p in settled.outbox if p.notice.id == notice_id), None)
        delivery = pending.delivery(channel) if pending else None
        if pending is None or delivery is None:
            continue  # delivered and recorded by another writer meanwhile
        if error is None:
            settled = _replace_pending(settled, pending.with_delivery(channel, None))
            receipt = (receipts or {}).get((notice_id, channel))
            settled = _keep_receipt(settled, pending.notice, channel, receipt)
        elif delivery.claim == token:
            failed = Delivery(attempts=delivery.attempts + 1, error=error)
            settled = _replace_pending(settled, pending.with_delivery(channel, failed))
    settled = _forget_finished_threads(settled)
    return None if settled == state else settled


def _keep_receipt(
    state: MonitorState, notice: Notice, channel: str, receipt: str | None
) -> MonitorState:
    """Record the outage's thread root on this channel, unless it has one: a forced
    repeat or a reminder never moves the thread."""
    outage_id = notice.outage_id
    if receipt is None or outage_id is None:
        return state
    if state.thread_of(outage_id, channel) is not None:
        return state
    root = Receipt(outage_id, channel, receipt)
    return replace(state, receipts=(*state.receipts, root))


def _forget_finished_threads(state: MonitorState) -> MonitorState:
    """Keep receipts only for the declared outage and outages with notices queued."""
    live = {p.notice.outage_id for p in state.outbox}
    if state.outage is not None:
        live.add(state.outage.id)
    kept = tuple(r for r in state.receipts if r.outage_id in live)
    return state if kept == state.receipts else replace(state, receipts=kept)


# --- operator actions ----------------------------------------------------------------


def decide_enable(state: MonitorState | None, now: datetime) -> Decision:
    """Enable monitoring; the grace before an alert counts from now."""
    if state is None:
        return Decision(None, initial_state(now), message="Monitoring enabled.")
    current = _end_timed_disable(state, now)
    if not current.is_disabled(now):
        changed = current if current != state else None
        return Decision(None, changed, message="Monitoring was already enabled.")
    enabled = replace(
        current, disabled_until=None, counting_from=max(current.counting_from, now)
    )
    return Decision(None, enabled, message="Monitoring enabled.")


def decide_disable(
    state: MonitorState | None, now: datetime, minutes: int | None
) -> Decision:
    """Disable monitoring, for `minutes` or until /enable."""
    base = state or initial_state(now)
    until = now + timedelta(minutes=minutes) if minutes is not None else NEVER
    disabled = replace(base, disabled_until=until)
    if minutes is None:
        return Decision(None, disabled, message="Monitoring disabled until /enable.")
    return Decision(
        None,
        disabled,
        message=f"Monitoring disabled for {minutes} min; it resumes by itself.",
    )


def decide_notify(
    state: MonitorState | None,
    last_seen: datetime | None,
    kind: NoticeKind,
    now: datetime,
    policy: Policy,
    *,
    force: bool,
    token: str,
    make_id: IdFactory = new_id,
) -> Decision:
    """Queue `kind` when it changes the state (down while no outage is declared, up
    while one is), or in any case with `force`, and claim what can go out now.

    The notice joins the end of the outbox: on every channel it goes out after what is
    already queued there, so it never overtakes a notice another writer is sending.
    """
    base = initial_state(now) if state is None else _end_timed_disable(state, now)
    active = base.outage is not None
    wants_down = kind is NoticeKind.DOWN
    if active == wants_down and not force:
        word = "down" if active else "up"
        return Decision(
            None,
            None,
            message=f"Already marked {word}; nothing sent "
            "(add ?force=true to send anyway).",
        )
    if wants_down:
        notice, changed = _operator_down(base, last_seen, now, policy, make_id)
    else:
        notice, changed = _operator_up(base, last_seen, now, make_id)
    queued, dropped = queue(changed, notice, policy)
    claimed, claims, busy = claim_heads(queued, now, policy, token)
    return Decision(
        None,
        claimed,
        claims,
        busy,
        dropped,
        message=f"Sending the {kind} notification.",
    )


def _operator_down(
    state: MonitorState,
    last_seen: datetime | None,
    now: datetime,
    policy: Policy,
    make_id: IdFactory,
) -> tuple[Notice, MonitorState]:
    if state.outage is not None:  # forced repeat: the same outage's facts
        outage = state.outage
        notice = Notice(
            make_id(),
            NoticeKind.DOWN,
            now,
            outage.last_seen,
            outage.silent_since,
            forced=True,
            outage_id=outage.id,
        )
        return notice, state
    since = silence_start(state, last_seen)
    # Claim a silence only if there is one.
    silent_since = since if now - since > policy.late_after else None
    notice_id = make_id()
    notice = Notice(
        notice_id,
        NoticeKind.DOWN,
        now,
        last_seen,
        silent_since,
        forced=True,
        outage_id=notice_id,
    )
    outage = Outage(notice.id, now, last_seen, silent_since)
    return notice, replace(state, outage=outage)


def _operator_up(
    state: MonitorState, last_seen: datetime | None, now: datetime, make_id: IdFactory
) -> tuple[Notice, MonitorState]:
    outage = state.outage
    notice = Notice(
        make_id(),
        NoticeKind.UP,
        now,
        last_seen=outage.last_seen if outage else last_seen,
        silent_since=outage.silent_since if outage else None,
        back_at=last_seen,
        forced=True,
        outage_id=outage.id if outage else None,
    )
    # The operator says LCO is up: a silence counts afresh from now, so a still-silent
    # LCO is alerted again after a whole grace, not at the next check.
    return notice, replace(
        state, outage=None, counting_from=max(state.counting_from, now)
    )


def claim_next(
    state: MonitorState | None,
    now: datetime,
    policy: Policy,
    token: str,
    channels: Collection[str],
) -> Decision:
    """Claim the next notice of channels that just delivered one, and nothing else: a
    further round in the same invocation, so an all-clear queued behind a retried
    alert goes out at once. Channels that failed wait for the next check."""
    if state is None:
        return Decision(None, None)
    claimed, claims, busy = claim_heads(state, now, policy, token, channels)
    return Decision(None, claimed if claims else None, claims, busy)
