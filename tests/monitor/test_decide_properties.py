"""The alert rules over arbitrary histories: LCO up or silent, the monitor running or
not, sends failing or not. Whatever happens, people get alerts and all-clears in
turn, never an alert for the monitor's own downtime, and never miss a real outage."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from lvmbeat_monitor.decide import (
    CheckOutcome,
    Policy,
    decide_check,
    mark_failed,
    mark_sent,
)
from lvmbeat_monitor.model import NoticeKind


T0 = datetime(2026, 3, 1, tzinfo=UTC)
PERIOD = timedelta(seconds=30)
GRACE = timedelta(seconds=300)
POLICY = Policy(send_email_after=GRACE, check_period=PERIOD)


@dataclass(frozen=True)
class Step:
    """One check period of history."""

    lco_up: bool  # LCO calls /heartbeat during this period
    monitor_up: bool  # the monitor runs (and can record heartbeats)
    send_fails: bool  # the mail server refuses this period's send


steps = st.lists(
    st.builds(
        Step,
        lco_up=st.booleans(),
        monitor_up=st.sampled_from([True, True, True, False]),
        send_fails=st.sampled_from([False, False, True]),
    ),
    min_size=1,
    max_size=120,
).map(lambda history: [*history, *runs_of(Step(False, True, False), 20)])


def runs_of(step: Step, count: int) -> list[Step]:
    return [step] * count


def replay(history: list[Step]):
    """Run the history; returns the final state, the delivered kinds with their
    times, and (time, last_seen, times the monitor ran so far) at each alert."""
    state, last_seen = None, None
    delivered: list[tuple[NoticeKind, datetime]] = []
    alerts = []
    ran: list[datetime] = []
    for index, step in enumerate(history):
        now = T0 + PERIOD * (index + 1)
        if not step.monitor_up:
            continue
        ran.append(now)
        if step.lco_up:
            last_seen = now - timedelta(seconds=5)
        decision = decide_check(state, last_seen, now, POLICY, checker="c")
        if decision.new_state is not None:
            state = decision.new_state
        if decision.outcome is CheckOutcome.ALERT:
            alerts.append((now, last_seen, list(ran)))
        if decision.send is not None:
            if step.send_fails:
                state = mark_failed(state, decision.send.id, "refused")
            else:
                state = mark_sent(state, decision.send.id, now)
                delivered.append((decision.send.kind, now))
    return state, delivered, alerts


@settings(max_examples=300, deadline=None)
@given(steps)
def test_alerts_and_all_clears_alternate_starting_with_an_alert(history):
    _, delivered, _ = replay(history)
    kinds = [kind for kind, _ in delivered]
    assert kinds == [NoticeKind.DOWN, NoticeKind.UP] * (len(kinds) // 2) + (
        [NoticeKind.DOWN] if len(kinds) % 2 else []
    )


@settings(max_examples=300, deadline=None)
@given(steps)
def test_no_alert_comes_from_the_monitors_own_downtime(history):
    _, _, alerts = replay(history)
    # A gap between two runs up to late + missed may go unnoticed (documented).
    unnoticed = POLICY.late_after + POLICY.missed_after
    for at, last_seen, ran in alerts:
        silence_start = last_seen or ran[0]
        assert at - silence_start > GRACE
        for before, after in zip(ran, ran[1:], strict=False):
            # (a heartbeat at silence_start means the monitor was up then)
            if before >= silence_start and after - before > unnoticed:
                # the monitor was away: a full grace with it running since
                assert at - after > GRACE


@settings(max_examples=300, deadline=None)
@given(steps)
def test_a_real_outage_is_always_reported_and_nothing_stays_pending(history):
    # Every history ends with 20 periods of silence, monitor up, mail working.
    state, delivered, _ = replay(history)
    assert state.active
    assert state.pending is None
    assert delivered and delivered[-1][0] is NoticeKind.DOWN
