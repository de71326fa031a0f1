"""The alert rules, as pure functions: state + heartbeat + now + policy -> decision.

No I/O here. The caller (service.py) writes the decided state with an ETag condition,
and only after that write succeeded sends the decided notice; a lost race re-reads and
calls these functions again. So every rule below is one short unit test.

The silence before an alert is counted from the latest of: the last heartbeat, the
monitor's first start, the last enable, and the monitor's own return after a gap. A
gap is noticed without writing on quiet checks: only checks that watch a silence
record `last_check`, so a silence that started long ago with no watching check since
can only mean the monitor itself was not running (see `_watch`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from lvmbeat_monitor.model import MonitorState, Notice, NoticeKind, Pending


# Heartbeats come every 15 s by default (the actor's outside_monitor.interval); one
# older than this, or than a check period, means a silence worth watching.
HEARTBEAT_LATE_AFTER = timedelta(seconds=30)
# How long a checker may take to deliver a notice it claimed before another checker
# may take over. Longer than any send may take (mail.py bounds them well below).
CLAIM_LEASE = timedelta(minutes=2)
# A gap of this many check periods without a watching check means the monitor
# itself was not running.
MISSED_PERIODS = 3


@dataclass(frozen=True)
class Policy:
    """The numbers the rules use, from the settings."""

    send_email_after: timedelta
    check_period: timedelta
    claim_lease: timedelta = CLAIM_LEASE

    @property
    def late_after(self) -> timedelta:
        """Silence shorter than this is quiet: the check writes nothing."""
        return min(max(self.check_period, HEARTBEAT_LATE_AFTER), self.send_email_after)

    @property
    def missed_after(self) -> timedelta:
        """No watching check for this long: the monitor was not running."""
        return MISSED_PERIODS * self.check_period


class CheckOutcome(StrEnum):
    """What a check did, for logs and tests."""

    STARTED = "started"  # first check ever: state created
    QUIET = "quiet"  # nothing to do, nothing written
    DISABLED = "disabled"  # monitoring is off, nothing sent
    REENABLED = "reenabled"  # a timed disable ran out
    WATCHING = "watching"  # heartbeat late, grace not over: last_check recorded
    RESUMED = "resumed"  # the monitor was away: silence counted from now
    WAITING = "waiting"  # outage declared, no heartbeat yet
    ALERT = "alert"  # outage declared, alert claimed
    ALL_CLEAR = "all_clear"  # recovery seen, all-clear claimed
    RETRY = "retry"  # a pending notice re-claimed for another attempt
    BUSY = "busy"  # another checker holds the pending notice


@dataclass(frozen=True)
class CheckDecision:
    """What a check must do. `new_state` None: write nothing.

    With `send`, `new_state` holds the claim on it: write first, then send.
    """

    outcome: CheckOutcome
    new_state: MonitorState | None = None
    send: Notice | None = None


def new_notice_id() -> str:
    return uuid.uuid4().hex


IdFactory = Callable[[], str]


def initial_state(now: datetime) -> MonitorState:
    return MonitorState(started_at=now, enabled_at=None)


def silent_since(state: MonitorState, last_seen: datetime | None) -> datetime:
    """Where the silence is counted from: the latest of the last heartbeat, the first
    start, the last enable and the monitor's return after a gap."""
    moments = [state.started_at, state.enabled_at, state.resumed_at, last_seen]
    return max(moment for moment in moments if moment is not None)


def decide_check(
    state: MonitorState | None,
    last_seen: datetime | None,
    now: datetime,
    policy: Policy,
    *,
    checker: str,
    past_due: bool = False,
    new_id: IdFactory = new_notice_id,
) -> CheckDecision:
    """What this check must do."""
    if state is None:
        return CheckDecision(CheckOutcome.STARTED, initial_state(now))
    current = _end_timed_disable(state, now)
    decision = _decide(current, last_seen, now, policy, checker, past_due, new_id)
    if decision.new_state is None and current != state:
        return CheckDecision(CheckOutcome.REENABLED, current)
    return decision


def _end_timed_disable(state: MonitorState, now: datetime) -> MonitorState:
    if state.enabled or not state.is_enabled(now):
        return state
    return replace(
        state, enabled=True, disabled_until=None, enabled_at=state.disabled_until
    )


def _decide(
    state: MonitorState,
    last_seen: datetime | None,
    now: datetime,
    policy: Policy,
    checker: str,
    past_due: bool,
    new_id: IdFactory,
) -> CheckDecision:
    if not state.enabled:
        return CheckDecision(CheckOutcome.DISABLED)
    if state.pending is not None:
        # One notice at a time, in order: the next transition waits for delivery.
        if state.pending.claimed_at(now):
            return CheckDecision(CheckOutcome.BUSY)
        return CheckDecision(
            CheckOutcome.RETRY,
            replace(state, pending=_claim(state.pending, checker, now, policy)),
            state.pending.notice,
        )
    if state.active:
        return _recovery(state, last_seen, now, policy, checker, new_id)
    return _watch(state, last_seen, now, policy, checker, past_due, new_id)


def _recovery(
    state: MonitorState,
    last_seen: datetime | None,
    now: datetime,
    policy: Policy,
    checker: str,
    new_id: IdFactory,
) -> CheckDecision:
    recovered = last_seen is not None and (
        state.outage_last_seen is None or last_seen > state.outage_last_seen
    )
    if not recovered:
        return CheckDecision(CheckOutcome.WAITING)
    notice = Notice(
        id=new_id(),
        kind=NoticeKind.UP,
        decided_at=now,
        last_seen=state.outage_last_seen,
        silent_since=state.outage_silent_since,
        back_at=last_seen,
    )
    claimed = replace(
        state,
        active=False,
        pending=_claim(Pending(notice), checker, now, policy),
    )
    return CheckDecision(CheckOutcome.ALL_CLEAR, claimed, notice)


def _watch(
    state: MonitorState,
    last_seen: datetime | None,
    now: datetime,
    policy: Policy,
    checker: str,
    past_due: bool,
    new_id: IdFactory,
) -> CheckDecision:
    since = silent_since(state, last_seen)
    silence = now - since
    if silence <= policy.late_after:
        return CheckDecision(CheckOutcome.QUIET)
    # A running monitor notices a silence within late_after + a period of its start
    # and then records every check while it watches. Without either, it was away.
    young = silence <= policy.late_after + policy.missed_after
    watched = (
        state.last_check is not None
        and state.last_check >= since
        and now - state.last_check <= policy.missed_after
    )
    checks_ran = state.last_check is not None and now - state.last_check <= (
        policy.check_period * 3 / 2
    )
    if not (young or watched) or (past_due and not checks_ran):
        resumed = replace(state, resumed_at=now, last_check=now)
        return CheckDecision(CheckOutcome.RESUMED, resumed)
    if silence <= policy.send_email_after:
        if watched and now - state.last_check < policy.check_period / 2:
            # another instance recorded this very round; once is evidence enough
            return CheckDecision(CheckOutcome.WATCHING)
        return CheckDecision(CheckOutcome.WATCHING, replace(state, last_check=now))
    notice = Notice(
        id=new_id(),
        kind=NoticeKind.DOWN,
        decided_at=now,
        last_seen=last_seen,
        silent_since=since,
    )
    claimed = replace(
        state,
        active=True,
        outage_last_seen=last_seen,
        outage_silent_since=since,
        last_check=now,
        pending=_claim(Pending(notice), checker, now, policy),
    )
    return CheckDecision(CheckOutcome.ALERT, claimed, notice)


def _claim(pending: Pending, checker: str, now: datetime, policy: Policy) -> Pending:
    return replace(pending, claimed_by=checker, claimed_until=now + policy.claim_lease)


# --- after a send -------------------------------------------------------------------


def mark_sent(
    state: MonitorState, notice_id: str, now: datetime
) -> MonitorState | None:
    """The state once the notice went out; None when it is no longer pending (an
    operator's /notify replaced it), so nothing needs writing."""
    if state.pending is None or state.pending.notice.id != notice_id:
        return None
    return replace(
        state,
        pending=None,
        last_error=None,
        last_sent_kind=state.pending.notice.kind,
        last_sent_at=now,
    )


def mark_failed(state: MonitorState, notice_id: str, error: str) -> MonitorState | None:
    """The state after a failed send: still pending, unclaimed so the next check
    retries at once, with the error shown in /status."""
    if state.pending is None or state.pending.notice.id != notice_id:
        return None
    pending = replace(
        state.pending,
        claimed_by=None,
        claimed_until=None,
        attempts=state.pending.attempts + 1,
    )
    return replace(state, pending=pending, last_error=error)


# --- operator actions ----------------------------------------------------------------


@dataclass(frozen=True)
class OperatorDecision:
    """What an operator's request changes; `new_state` None: write nothing."""

    new_state: MonitorState | None
    message: str
    send: Notice | None = None


def decide_enable(state: MonitorState | None, now: datetime) -> OperatorDecision:
    """Enable monitoring; the grace before an alert counts from now."""
    if state is None:
        return OperatorDecision(initial_state(now), "Monitoring enabled.")
    if state.enabled:
        return OperatorDecision(None, "Monitoring was already enabled.")
    if state.is_enabled(now):  # a timed disable ran out: record it, keep its end
        ended = replace(
            state, enabled=True, disabled_until=None, enabled_at=state.disabled_until
        )
        return OperatorDecision(ended, "Monitoring was already enabled.")
    enabled = replace(state, enabled=True, disabled_until=None, enabled_at=now)
    return OperatorDecision(enabled, "Monitoring enabled.")


def decide_disable(
    state: MonitorState | None, now: datetime, minutes: int | None
) -> OperatorDecision:
    """Disable monitoring, for `minutes` or until /enable."""
    base = state or initial_state(now)
    until = now + timedelta(minutes=minutes) if minutes else None
    disabled = replace(base, enabled=False, disabled_until=until)
    if until is None:
        return OperatorDecision(disabled, "Monitoring disabled until /enable.")
    return OperatorDecision(
        disabled,
        f"Monitoring disabled for {minutes} min; it resumes by itself.",
    )


def decide_notify(
    state: MonitorState | None,
    last_seen: datetime | None,
    kind: NoticeKind,
    now: datetime,
    policy: Policy,
    *,
    force: bool,
    requester: str,
    new_id: IdFactory = new_notice_id,
) -> OperatorDecision:
    """Send `kind` now when it changes the state (down while not active, up while
    active), or in any case with `force`. The operator's notice replaces any pending
    one: it is the newer word."""
    base = initial_state(now) if state is None else _end_timed_disable(state, now)
    want_active = kind is NoticeKind.DOWN
    if base.active == want_active and not force:
        status = "down" if base.active else "up"
        return OperatorDecision(
            None,
            f"Already marked {status}; nothing sent (add ?force=true to send anyway).",
        )
    since = silent_since(base, last_seen)
    if want_active:
        outage_last_seen = base.outage_last_seen if base.active else last_seen
        outage_since = base.outage_silent_since if base.active else since
        notice = Notice(
            id=new_id(),
            kind=kind,
            decided_at=now,
            last_seen=outage_last_seen,
            silent_since=outage_since,
            forced=True,
        )
        changed = replace(
            base,
            active=True,
            outage_last_seen=outage_last_seen,
            outage_silent_since=outage_since,
        )
    else:
        notice = Notice(
            id=new_id(),
            kind=kind,
            decided_at=now,
            last_seen=base.outage_last_seen if base.active else last_seen,
            silent_since=base.outage_silent_since if base.active else since,
            back_at=last_seen,
            forced=True,
        )
        changed = replace(base, active=False)
    claimed = replace(changed, pending=_claim(Pending(notice), requester, now, policy))
    return OperatorDecision(claimed, f"Sending the {kind} notification.", notice)
