"""The alert rules, edge by edge, as pure decisions (no storage, no email)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from lvmbeat_monitor.decide import (
    CheckOutcome,
    Policy,
    decide_check,
    decide_disable,
    decide_enable,
    decide_notify,
    initial_state,
    mark_failed,
    mark_sent,
)
from lvmbeat_monitor.model import MonitorState, NoticeKind, Pending


T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
GRACE = timedelta(seconds=300)
PERIOD = timedelta(seconds=30)
POLICY = Policy(send_email_after=GRACE, check_period=PERIOD)


def s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def check(state, last_seen, at, *, past_due=False, checker="a"):
    return decide_check(
        state, last_seen, at, POLICY, checker=checker, past_due=past_due
    )


def run_checks(state, last_seen, start, end, *, step=30):
    """Run a check every period from start to end, as a running monitor does,
    applying each decision; returns the final state and every decision."""
    decisions = []
    at = start
    while at <= end:
        decision = check(state, last_seen, s(at))
        decisions.append((at, decision))
        if decision.new_state is not None:
            state = decision.new_state
            if decision.send is not None:
                state = mark_sent(state, decision.send.id, s(at))
        at += step
    return state, decisions


def alerts(decisions):
    return [at for at, d in decisions if d.outcome is CheckOutcome.ALERT]


# --- never seen / first start ---------------------------------------------------


def test_the_first_check_creates_the_state_and_counts_silence_from_then():
    decision = check(None, None, s(0))
    assert decision.outcome is CheckOutcome.STARTED
    assert decision.new_state == initial_state(s(0))
    assert decision.send is None


def test_a_site_never_seen_since_first_start_is_alerted_after_one_grace():
    state = initial_state(s(0))
    _, decisions = run_checks(state, None, 30, 600)
    assert alerts(decisions) == [330]  # first check after 300 s of silence
    alert = dict(decisions)[330]
    assert alert.send.kind is NoticeKind.DOWN and alert.send.last_seen is None


def test_heartbeats_that_keep_coming_never_alert_and_never_write():
    state = initial_state(s(0))
    for at in range(30, 3600, 30):
        decision = check(state, s(at - 10), s(at))
        assert decision.outcome is CheckOutcome.QUIET
        assert decision.new_state is None


def test_silence_is_counted_from_the_last_heartbeat():
    state = initial_state(s(0))
    _, decisions = run_checks(state, s(100), 110, 600)
    assert alerts(decisions) == [410]  # 310 s after the last heartbeat


def test_a_watching_check_records_itself_and_sends_nothing():
    state = initial_state(s(0))
    decision = check(state, s(0), s(60))
    assert decision.outcome is CheckOutcome.WATCHING
    assert decision.new_state == replace(state, last_check=s(60))
    assert decision.send is None


def test_a_second_checker_in_the_same_round_does_not_record_itself_again():
    state = replace(initial_state(s(0)), last_check=s(60))
    decision = check(state, s(0), s(62), checker="b")
    assert decision.outcome is CheckOutcome.WATCHING and decision.new_state is None


# --- the alert and the all-clear ------------------------------------------------


def test_the_alert_claims_the_outage_before_anything_is_sent():
    state = replace(initial_state(s(0)), last_check=s(300))
    decision = check(state, s(0), s(310), checker="checker-1")
    assert decision.outcome is CheckOutcome.ALERT
    claimed = decision.new_state
    assert claimed.active and claimed.outage_last_seen == s(0)
    assert claimed.pending.notice == decision.send
    assert claimed.pending.claimed_by == "checker-1"
    assert claimed.pending.claimed_until == s(310) + POLICY.claim_lease
    assert claimed.last_sent_kind is None  # nothing marked sent before it was sent


def test_an_active_outage_without_heartbeat_waits_and_writes_nothing():
    state = replace(initial_state(s(0)), active=True, outage_last_seen=s(0))
    decision = check(state, s(0), s(900))
    assert decision.outcome is CheckOutcome.WAITING and decision.new_state is None


def test_a_heartbeat_after_the_alert_sends_one_all_clear_with_the_outage_length():
    state = replace(
        initial_state(s(0)),
        active=True,
        outage_last_seen=s(0),
        outage_silent_since=s(0),
    )
    decision = check(state, s(1000), s(1010))
    assert decision.outcome is CheckOutcome.ALL_CLEAR
    assert decision.send.kind is NoticeKind.UP
    assert decision.send.last_seen == s(0) and decision.send.back_at == s(1000)
    assert not decision.new_state.active
    sent = mark_sent(decision.new_state, decision.send.id, s(1011))
    assert check(sent, s(1030), s(1040)).outcome is CheckOutcome.QUIET


def test_a_heartbeat_arriving_between_a_checks_read_and_write_is_not_lost():
    # The check read last_seen=s(0) and declared the outage; the heartbeat at s(311)
    # went to its own entity, so the next check sees it and sends the all-clear.
    state = replace(initial_state(s(0)), last_check=s(300))
    alert = check(state, s(0), s(310))
    after = mark_sent(alert.new_state, alert.send.id, s(312))
    decision = check(after, s(311), s(340))
    assert decision.outcome is CheckOutcome.ALL_CLEAR


def test_repeated_outages_each_get_one_alert_and_one_all_clear():
    state = initial_state(s(0))
    sent = []
    last_seen = s(0)
    at = 30
    for _outage in range(3):
        # heartbeats for a while, then silence for 600 s, then back
        resume = at + 600
        while at <= resume + 120:
            if at >= resume:
                last_seen = s(at - 5)
            decision = check(state, last_seen, s(at))
            if decision.new_state is not None:
                state = decision.new_state
            if decision.send is not None:
                sent.append(decision.send.kind)
                state = mark_sent(state, decision.send.id, s(at))
            at += 30
    assert sent == [NoticeKind.DOWN, NoticeKind.UP] * 3


# --- disabled, timed disable, enable ---------------------------------------------


def test_a_disabled_monitor_sends_nothing_and_writes_nothing():
    state = replace(initial_state(s(0)), enabled=False)
    decision = check(state, None, s(5000))
    assert decision.outcome is CheckOutcome.DISABLED and decision.new_state is None


def test_grace_counts_from_the_enable():
    state = decide_disable(initial_state(s(0)), s(10), None).new_state
    enabled = decide_enable(state, s(2000)).new_state
    assert enabled.enabled_at == s(2000)
    _, decisions = run_checks(enabled, s(0), 2010, 2700)
    assert alerts(decisions) == [2310]


def test_enable_when_already_enabled_changes_nothing():
    decision = decide_enable(initial_state(s(0)), s(100))
    assert decision.new_state is None


def test_a_timed_disable_expires_by_itself_and_grace_counts_from_its_end():
    disabled = decide_disable(initial_state(s(0)), s(0), 30).new_state
    assert disabled.disabled_until == s(1800)
    assert check(disabled, None, s(1790)).outcome is CheckOutcome.DISABLED
    decision = check(disabled, None, s(1810))
    assert decision.outcome is CheckOutcome.REENABLED
    assert decision.new_state.enabled and decision.new_state.disabled_until is None
    assert decision.new_state.enabled_at == s(1800)
    _, decisions = run_checks(decision.new_state, None, 1840, 2400)
    assert alerts(decisions) == [2110]


def test_a_plain_disable_lasts_until_enable():
    disabled = decide_disable(initial_state(s(0)), s(0), None).new_state
    assert disabled.disabled_until is None
    assert check(disabled, None, s(10**6)).outcome is CheckOutcome.DISABLED


def test_a_disable_keeps_a_pending_notice_for_later_and_sends_nothing_meanwhile():
    alert = check(replace(initial_state(s(0)), last_check=s(300)), s(0), s(310))
    failed = mark_failed(alert.new_state, alert.send.id, "SMTP down")
    disabled = decide_disable(failed, s(320), None).new_state
    assert check(disabled, s(0), s(400)).outcome is CheckOutcome.DISABLED
    enabled = decide_enable(disabled, s(500)).new_state
    retry = check(enabled, s(0), s(510))
    assert retry.outcome is CheckOutcome.RETRY and retry.send == alert.send


# --- failures and retries ---------------------------------------------------------


def test_a_failed_send_stays_pending_and_every_check_retries_it():
    alert = check(replace(initial_state(s(0)), last_check=s(300)), s(0), s(310))
    state = mark_failed(alert.new_state, alert.send.id, "451 try later")
    assert state.last_error == "451 try later" and state.pending.attempts == 1
    assert state.pending.claimed_by is None
    for at in (340, 370, 400):
        retry = check(state, s(0), s(at), checker="b")
        assert retry.outcome is CheckOutcome.RETRY and retry.send == alert.send
        state = mark_failed(retry.new_state, retry.send.id, "451 try later")
    assert state.pending.attempts == 4
    delivered = mark_sent(state, alert.send.id, s(410))
    assert delivered.pending is None and delivered.last_error is None
    assert delivered.last_sent_kind is NoticeKind.DOWN and delivered.active


def test_a_claimed_notice_is_left_to_its_claimer_until_the_lease_runs_out():
    alert = check(replace(initial_state(s(0)), last_check=s(300)), s(0), s(310))
    assert (
        check(alert.new_state, s(0), s(340), checker="b").outcome is CheckOutcome.BUSY
    )
    later = s(310) + POLICY.claim_lease + timedelta(seconds=1)
    takeover = check(alert.new_state, s(0), later, checker="b")
    assert takeover.outcome is CheckOutcome.RETRY  # a crashed claimer: repeat, not loss
    assert takeover.new_state.pending.claimed_by == "b"


def test_the_all_clear_waits_until_the_alert_was_delivered():
    alert = check(replace(initial_state(s(0)), last_check=s(300)), s(0), s(310))
    failed = mark_failed(alert.new_state, alert.send.id, "down")
    retry = check(failed, s(400), s(410))  # LCO is back, but the alert is not out
    assert retry.outcome is CheckOutcome.RETRY and retry.send.kind is NoticeKind.DOWN
    delivered = mark_sent(retry.new_state, retry.send.id, s(411))
    assert check(delivered, s(400), s(440)).outcome is CheckOutcome.ALL_CLEAR


def test_confirming_a_notice_that_was_replaced_writes_nothing():
    alert = check(replace(initial_state(s(0)), last_check=s(300)), s(0), s(310))
    assert mark_sent(alert.new_state, "another-id", s(311)) is None
    assert mark_failed(alert.new_state, "another-id", "x") is None


# --- the monitor's own downtime ---------------------------------------------------


def test_a_monitor_that_was_away_longer_than_the_grace_counts_from_its_return():
    # Quiet until s(60); the monitor is down from s(60) to s(1000); LCO's
    # heartbeats stopped at s(50) (they could not reach the monitor either).
    state, decisions = run_checks(initial_state(s(0)), s(50), 30, 60)
    assert not alerts(decisions)
    back = check(state, s(50), s(1000))
    assert back.outcome is CheckOutcome.RESUMED and back.send is None
    assert back.new_state.resumed_at == s(1000)
    _, decisions = run_checks(back.new_state, s(50), 1030, 1600)
    assert alerts(decisions) == [1330]  # a full grace with the monitor running


def test_a_monitor_that_stopped_while_watching_counts_from_its_return():
    state, _ = run_checks(initial_state(s(0)), s(0), 30, 120)  # watching at 60..120
    assert state.last_check == s(120)
    back = check(state, s(0), s(700))
    assert back.outcome is CheckOutcome.RESUMED


def test_past_due_means_the_monitor_was_away():
    state = replace(initial_state(s(0)), last_check=s(60))
    decision = check(state, s(0), s(200), past_due=True)
    assert decision.outcome is CheckOutcome.RESUMED


def test_past_due_is_ignored_when_the_checks_evidently_ran():
    state = replace(initial_state(s(0)), last_check=s(280))
    decision = check(state, s(0), s(310), past_due=True)
    assert decision.outcome is CheckOutcome.ALERT


def test_past_due_while_heartbeats_are_current_writes_nothing():
    decision = check(initial_state(s(0)), s(100), s(110), past_due=True)
    assert decision.outcome is CheckOutcome.QUIET and decision.new_state is None


def test_a_restart_in_the_middle_of_an_outage_sends_no_second_alert():
    state = replace(initial_state(s(0)), active=True, outage_last_seen=s(0))
    decision = check(state, s(0), s(10_000), past_due=True)
    assert decision.outcome is CheckOutcome.WAITING and decision.send is None


# --- /notify -----------------------------------------------------------------------


def notify(state, kind, *, force, last_seen=T0, at=None):
    at = at or s(100)
    return decide_notify(
        state, last_seen, kind, at, POLICY, force=force, requester="op"
    )


def test_notify_down_declares_the_outage_and_sends_once():
    decision = notify(initial_state(s(0)), NoticeKind.DOWN, force=False)
    assert decision.send.kind is NoticeKind.DOWN and decision.send.forced
    assert decision.new_state.active
    assert decision.new_state.pending.notice == decision.send


def test_notify_without_force_sends_nothing_when_the_state_would_not_change():
    active = replace(initial_state(s(0)), active=True, outage_last_seen=s(0))
    assert notify(active, NoticeKind.DOWN, force=False).send is None
    assert notify(initial_state(s(0)), NoticeKind.UP, force=False).send is None


def test_notify_with_force_sends_even_when_the_state_does_not_change():
    active = replace(initial_state(s(0)), active=True, outage_last_seen=s(0))
    decision = notify(active, NoticeKind.DOWN, force=True)
    assert decision.send.kind is NoticeKind.DOWN and decision.new_state.active
    up = notify(initial_state(s(0)), NoticeKind.UP, force=True)
    assert up.send.kind is NoticeKind.UP and not up.new_state.active


def test_notify_up_ends_a_declared_outage():
    active = replace(initial_state(s(0)), active=True, outage_last_seen=s(0))
    decision = notify(active, NoticeKind.UP, force=False, last_seen=s(90))
    assert decision.send.back_at == s(90) and decision.send.last_seen == s(0)
    assert not decision.new_state.active


def test_notify_replaces_a_pending_notice():
    alert = check(replace(initial_state(s(0)), last_check=s(300)), s(0), s(310))
    failed = mark_failed(alert.new_state, alert.send.id, "down")
    decision = notify(failed, NoticeKind.UP, force=False, at=s(320))
    assert decision.new_state.pending.notice.kind is NoticeKind.UP
    assert mark_sent(decision.new_state, alert.send.id, s(321)) is None


@pytest.mark.parametrize("force", [False, True])
def test_notify_before_the_first_check_starts_the_state(force):
    decision = notify(None, NoticeKind.DOWN, force=force)
    assert decision.new_state.started_at == s(100)
    assert decision.new_state.active


def test_every_state_field_survives_a_claim():
    full = MonitorState(
        started_at=s(0),
        enabled=True,
        enabled_at=s(1),
        resumed_at=s(2),
        last_check=s(300),
        pending=None,
    )
    decision = check(full, s(0), s(310))
    assert decision.new_state.enabled_at == s(1)
    assert decision.new_state.resumed_at == s(2)
    assert isinstance(decision.new_state.pending, Pending)
