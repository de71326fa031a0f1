"""The alert rules, edge by edge, as pure decisions (no storage, no sending).

Each test is one row of the table in docs/monitor.md, or one of the breaks the protocol
issue found; tests/protocol explores every interleaving of them.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from lvmbeat_monitor.decide import (
    MAX_OUTBOX,
    CheckOutcome,
    Policy,
    claim_next,
    decide_check,
    decide_disable,
    decide_enable,
    decide_notify,
    initial_state,
    settle,
)
from lvmbeat_monitor.model import NEVER, MonitorState, NoticeKind


T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
GRACE = timedelta(seconds=300)
PERIOD = timedelta(seconds=30)
POLICY = Policy(grace=GRACE, check_period=PERIOD)
TWO_CHANNELS = Policy(grace=GRACE, check_period=PERIOD, channels=("email", "slack"))


def s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


_ids = itertools.count(1)


def make_id() -> str:
    return f"n{next(_ids)}"


def check(state, last_seen, at, *, token="a", policy=POLICY):
    return decide_check(state, last_seen, at, policy, token=token, make_id=make_id)


def delivered(decision, token="a", error=None):
    """The state once every claim of `decision` came back (None: delivered)."""
    results = {(c.notice.id, c.channel): error for c in decision.claims}
    return settle(decision.new_state, results, token) or decision.new_state


def run_checks(state, last_seen, start, end, *, step=30, policy=POLICY):
    """A check every `step` from start to end, as a running monitor does, with every
    send succeeding; returns the final state and every decision."""
    decisions = []
    for at in range(start, end + 1, step):
        decision = check(state, last_seen, s(at), policy=policy)
        decisions.append((at, decision))
        if decision.new_state is not None:
            state = delivered(decision)
    return state, decisions


def at_outcome(decisions, outcome):
    return [at for at, d in decisions if d.outcome is outcome]


# --- first start, arming ----------------------------------------------------------


def test_the_first_check_creates_the_state_and_counts_silence_from_then():
    decision = check(None, None, s(0))
    assert decision.outcome is CheckOutcome.STARTED
    assert decision.new_state == MonitorState(counting_from=s(0), last_check=s(0))


def test_a_new_monitor_never_alerts_before_the_first_heartbeat():
    # A first deployment before the actor knows the new URL: no false alert.
    state, decisions = run_checks(initial_state(s(0)), None, 30, 7200)
    assert {d.outcome for _, d in decisions} == {CheckOutcome.UNARMED}
    assert state.outbox == ()


def test_the_first_heartbeat_arms_it_and_its_silence_is_alerted_after_a_grace():
    state, decisions = run_checks(initial_state(s(0)), s(100), 30, 600)
    assert at_outcome(decisions, CheckOutcome.ALERT) == [420]  # 100 + 300 + a period


# --- the silence ------------------------------------------------------------------


def test_heartbeats_that_keep_coming_never_alert():
    state = initial_state(s(0))
    for at in range(30, 3600, 30):
        decision = check(state, s(at - 10), s(at))
        assert decision.outcome is CheckOutcome.QUIET and not decision.claims
        state = decision.new_state or state


def test_every_check_records_itself_as_the_evidence_that_the_monitor_ran():
    decision = check(initial_state(s(0)), s(0), s(30))
    assert decision.outcome is CheckOutcome.QUIET
    assert decision.new_state.last_check == s(30)


def test_a_second_checker_in_the_same_round_does_not_record_itself_again():
    state = check(initial_state(s(0)), s(0), s(30)).new_state
    assert check(state, s(0), s(35), token="b").new_state is None


def test_the_alert_comes_at_the_first_check_past_the_grace_and_claims_first():
    state, decisions = run_checks(initial_state(s(0)), s(0), 30, 330)
    assert at_outcome(decisions, CheckOutcome.WATCHING) == list(range(60, 301, 30))
    at, alert = decisions[-1]
    assert (at, alert.outcome) == (330, CheckOutcome.ALERT)
    (claim,) = alert.claims
    assert claim.notice.kind is NoticeKind.DOWN and claim.notice.last_seen == s(0)
    held = alert.new_state.outbox[0].delivery("email")
    assert held.claim == "a" and held.claimed_until == s(330) + POLICY.claim_lease
    assert alert.new_state.outage.id == claim.notice.id


def test_a_declared_outage_waits_then_one_all_clear_follows_a_heartbeat():
    state, _ = run_checks(initial_state(s(0)), s(0), 30, 330)
    waiting = check(state, s(0), s(360))
    assert waiting.outcome is CheckOutcome.WAITING and not waiting.claims
    clear = check(waiting.new_state, s(370), s(390))
    assert clear.outcome is CheckOutcome.ALL_CLEAR
    (claim,) = clear.claims
    assert (claim.notice.kind, claim.notice.back_at) == (NoticeKind.UP, s(370))
    assert claim.notice.silent_since == s(0) and clear.new_state.outage is None


def test_a_heartbeat_between_a_checks_read_and_write_is_not_lost():
    # The heartbeat lands in its own entity; the next check sees it and clears.
    state, _ = run_checks(initial_state(s(0)), s(0), 30, 330)
    assert check(state, s(335), s(360)).outcome is CheckOutcome.ALL_CLEAR


# --- the monitor's own downtime (break 1 of the protocol issue) --------------------


def test_a_gap_in_the_checks_counts_the_silence_from_the_monitors_return():
    state, _ = run_checks(initial_state(s(0)), s(0), 30, 90)
    back = check(state, s(0), s(700))  # no check ran for 610 s
    assert back.outcome is CheckOutcome.RESUMED
    assert back.new_state.counting_from == s(700)
    _, decisions = run_checks(back.new_state, s(0), 730, 1100)
    assert at_outcome(decisions, CheckOutcome.ALERT) == [1030]  # 700 + 300 + 30


@pytest.mark.parametrize("away", [45, 60, 120, 240])
def test_a_short_absence_while_lco_beats_never_alerts(away):
    # Grace 30 s with 5 s checks (make run's numbers), LCO beating every 5 s until
    # the monitor stops; it returns `away` seconds later and the beats resume.
    policy = Policy(grace=timedelta(seconds=30), check_period=timedelta(seconds=5))
    state = initial_state(s(0))
    for at in range(5, 60, 5):
        state = check(state, s(at), s(at), policy=policy).new_state or state
    back = 55 + away
    first = check(state, s(55), s(back), policy=policy)
    assert first.outcome is CheckOutcome.RESUMED and not first.claims


def test_past_due_changes_nothing_the_checks_own_records_decide():
    # A spurious past_due used to restart the grace of a watched silence.
    state, _ = run_checks(initial_state(s(0)), s(0), 30, 270)
    decision = check(state, s(0), s(300))
    assert decision.outcome is CheckOutcome.WATCHING
    assert decision.new_state.counting_from == s(0)


# --- disable and enable -----------------------------------------------------------


def test_a_disabled_monitor_decides_nothing_new():
    state = decide_disable(initial_state(s(0)), s(10), None).new_state
    _, decisions = run_checks(state, s(0), 30, 3600)
    assert {d.outcome for _, d in decisions} == {CheckOutcome.DISABLED}
    assert not any(d.claims for _, d in decisions)


def test_enable_counts_the_grace_from_now():
    state = decide_disable(initial_state(s(0)), s(10), None).new_state
    state, _ = run_checks(state, s(0), 30, 1200)
    state = decide_enable(state, s(1200)).new_state
    _, decisions = run_checks(state, s(0), 1230, 1600)
    assert at_outcome(decisions, CheckOutcome.ALERT) == [1530]


def test_enable_when_already_enabled_changes_nothing():
    decision = decide_enable(initial_state(s(0)), s(60))
    assert decision.new_state is None and "already" in decision.message


def test_a_timed_disable_ends_by_itself_and_the_grace_counts_from_its_end():
    state = decide_disable(initial_state(s(0)), s(0), 10).new_state
    assert state.disabled_until == s(600)
    state, decisions = run_checks(state, s(0), 30, 600)
    assert state.disabled_until is None and state.counting_from == s(600)
    _, decisions = run_checks(state, s(0), 630, 960)
    assert at_outcome(decisions, CheckOutcome.ALERT) == [930]


def test_a_plain_disable_lasts_until_enable():
    state = decide_disable(None, s(0), None).new_state
    assert state.disabled_until == NEVER and state.is_disabled(s(10**8))


def test_a_notice_decided_before_a_disable_is_still_delivered():
    # It reports what happened while monitoring was on (an outage, or its end).
    state, decisions = run_checks(initial_state(s(0)), s(0), 30, 330)
    alert = decisions[-1][1]
    failed = delivered(alert, error="refused")
    state = decide_disable(failed, s(340), None).new_state
    retry = check(state, s(0), s(360))
    assert retry.outcome is CheckOutcome.DISABLED
    assert [c.notice.kind for c in retry.claims] == [NoticeKind.DOWN]


# --- delivery: claims, leases, failures, channels ---------------------------------


def alerted(policy=POLICY):
    """The decision of the check that alerts, after 330 s of silence."""
    state, _ = run_checks(initial_state(s(0)), s(0), 30, 300, policy=policy)
    return check(state, s(0), s(330), policy=policy)


def test_a_failed_send_is_released_and_every_check_retries_it():
    failed = delivered(alerted(), error="unreachable")
    (pending,) = failed.outbox
    assert pending.delivery("email").claim is None
    assert (pending.delivery("email").attempts, pending.delivery("email").error) == (
        1,
        "unreachable",
    )
    retry = check(failed, s(0), s(360), token="b")
    assert retry.outcome is CheckOutcome.WAITING
    assert [c.notice.id for c in retry.claims] == [pending.notice.id]


def test_a_claimed_notice_is_left_to_its_claimer_until_the_lease_ends():
    claimed = alerted().new_state  # "a" crashed after claiming: no settle
    during = check(claimed, s(0), s(360), token="b")
    assert (during.claims, during.busy) == ((), ("email",))
    after = check(claimed, s(0), s(330) + POLICY.claim_lease, token="b")
    assert [c.channel for c in after.claims] == ["email"]  # a repeat, never a loss


def test_a_claim_applied_but_answered_with_an_error_is_recognised_as_ours():
    # The SDK retried a write that storage had applied: it answered 412, the writer
    # re-read, and finds its own token in the claim instead of waiting out the lease.
    claimed = alerted().new_state
    again = check(claimed, s(0), s(331), token="a")
    assert [c.channel for c in again.claims] == ["email"] and again.busy == ()


def test_a_blocked_notice_does_not_delay_the_next_outage():
    # Break 2: mail down for a long time, LCO back and silent again meanwhile.
    alert = alerted()
    state = delivered(alert, error="unreachable")
    for at in range(360, 600, 30):  # retries keep failing; LCO comes back at 400
        decision = check(state, s(400), s(at))
        state = delivered(decision, error="unreachable")
    assert state.outage is None  # the recovery was decided while the alert waited
    kinds = [p.notice.kind for p in state.outbox]
    assert kinds == [NoticeKind.DOWN, NoticeKind.UP]
    # LCO silent from 400; mail works again from 600.
    state, decisions = run_checks(state, s(400), 600, 780)
    assert at_outcome(decisions, CheckOutcome.ALERT) == [720]  # 400 + 300 + a period


def test_channels_deliver_independently_and_each_in_order():
    alert = alerted(TWO_CHANNELS)
    assert sorted(c.channel for c in alert.claims) == ["email", "slack"]
    results = {(c.notice.id, c.channel): None for c in alert.claims}
    results[(alert.claims[1].notice.id, "slack")] = "rate_limited"
    state = settle(alert.new_state, results, "a")
    clear = check(state, s(350), s(360), policy=TWO_CHANNELS)
    assert clear.outcome is CheckOutcome.ALL_CLEAR
    # email moves on to the all-clear; slack retries the alert first.
    claims = {c.channel: c.notice.kind for c in clear.claims}
    assert claims == {"email": NoticeKind.UP, "slack": NoticeKind.DOWN}
    slack_done = delivered(clear)
    nxt = claim_next(slack_done, s(361), TWO_CHANNELS, "a", {"slack"})
    assert [(c.channel, c.notice.kind) for c in nxt.claims] == [("slack", "up")]


def test_settling_what_someone_else_already_recorded_writes_nothing():
    alert = alerted()
    state = delivered(alert)
    results = {(c.notice.id, c.channel): None for c in alert.claims}
    assert settle(state, results, "a") is None


def test_a_channel_that_keeps_failing_cannot_grow_the_state_without_bound():
    state = initial_state(s(0))
    dropped = []
    for n in range(MAX_OUTBOX + 3):
        decision = decide_notify(
            state, s(0), NoticeKind.DOWN, s(n), POLICY, force=True, token=f"t{n}"
        )
        state = delivered(decision, token=f"t{n}", error="auth")
        dropped += decision.dropped
    assert len(state.outbox) == MAX_OUTBOX
    assert len(dropped) == 3  # the oldest, which the service logs as dropped


def test_channels_no_longer_configured_are_forgotten():
    alert = alerted(TWO_CHANNELS)
    state = settle(alert.new_state, {}, "a")  # crashed: both claims held
    later = check(state or alert.new_state, s(0), s(330) + POLICY.claim_lease)
    assert [c.channel for c in later.claims] == ["email"]
    assert all(
        name == "email" for p in later.new_state.outbox for name, _ in p.deliveries
    )


# --- operators --------------------------------------------------------------------


def notify(state, kind, at, *, force=False, last_seen=None, token="op"):
    return decide_notify(
        state, last_seen, kind, s(at), POLICY, force=force, token=token, make_id=make_id
    )


def test_notify_down_declares_the_outage_and_claims_its_notice():
    decision = notify(initial_state(s(0)), NoticeKind.DOWN, 10, last_seen=s(5))
    (claim,) = decision.claims
    assert claim.notice.forced and decision.new_state.outage.id == claim.notice.id
    # Heartbeats were current: the alert claims no silence that did not happen.
    assert claim.notice.silent_since is None and claim.notice.last_seen == s(5)


def test_notify_without_force_sends_nothing_when_nothing_would_change():
    decision = notify(initial_state(s(0)), NoticeKind.UP, 10)
    assert decision.new_state is None and "force=true" in decision.message


def test_notify_with_force_sends_even_when_nothing_changes():
    decision = notify(initial_state(s(0)), NoticeKind.UP, 10, force=True)
    assert [c.notice.kind for c in decision.claims] == [NoticeKind.UP]


def test_notify_up_ends_the_outage_and_restarts_the_count():
    state = delivered(alerted())
    decision = notify(state, NoticeKind.UP, 400)
    assert decision.new_state.outage is None
    assert decision.new_state.counting_from == s(400)
    # LCO still silent: alerted again only after a whole grace, not at once.
    after = delivered(decision, token="op")
    _, decisions = run_checks(after, s(0), 360, 760)
    assert at_outcome(decisions, CheckOutcome.ALERT) == [720]  # 400 + 300 + 20


def test_notify_up_never_overtakes_an_alert_being_sent():
    # Break 3: the operator's all-clear used to replace the alert a checker was
    # sending; people then got UP, then DOWN, and never another all-clear.
    alert = alerted()
    sending = alert.new_state  # checker "a" holds the alert and is sending it
    up = notify(sending, NoticeKind.UP, 340)
    assert up.claims == () and up.busy == ("email",)
    kinds = [p.notice.kind for p in up.new_state.outbox]
    assert kinds == [NoticeKind.DOWN, NoticeKind.UP]  # queued behind it
    alert_claim = alert.claims[0]
    done = settle(up.new_state, {(alert_claim.notice.id, "email"): None}, "a")
    nxt = claim_next(done, s(341), POLICY, "a", {"email"})
    assert [c.notice.kind for c in nxt.claims] == [NoticeKind.UP]


def test_notify_before_the_first_check_starts_the_state():
    decision = notify(None, NoticeKind.DOWN, 0, force=True)
    assert decision.new_state.counting_from == s(0)


def test_disable_for_minutes_and_until_enable():
    timed = decide_disable(initial_state(s(0)), s(0), 30)
    assert timed.new_state.disabled_until == s(1800) and "30 min" in timed.message
    plain = decide_disable(initial_state(s(0)), s(0), None)
    assert plain.new_state.disabled_until == NEVER


def test_a_timed_disable_that_ran_out_is_reported_enabled():
    state = decide_disable(initial_state(s(0)), s(0), 1).new_state
    decision = decide_enable(state, s(120))
    assert "already" in decision.message
    assert decision.new_state.disabled_until is None
    assert replace(decision.new_state, disabled_until=None).counting_from == s(60)


# --- reminders and threads (issue 13) ----------------------------------------------

REMINDING = Policy(
    grace=GRACE,
    check_period=PERIOD,
    channels=("email", "slack"),
    remind_every=timedelta(seconds=600),
)


def delivered_with_receipts(decision, token="a"):
    """Every claim delivered; each channel answers with a receipt naming the notice."""
    results = {(c.notice.id, c.channel): None for c in decision.claims}
    receipts = {key: f"{key[1]}:{key[0]}" for key in results}
    return settle(decision.new_state, results, token, receipts) or decision.new_state


def run_reminding(state, last_seen, start, end):
    decisions = []
    for at in range(start, end + 1, 30):
        decision = check(state, last_seen, s(at), policy=REMINDING)
        decisions.append((at, decision))
        if decision.new_state is not None:
            state = delivered_with_receipts(decision)
    return state, decisions


def test_each_reminder_is_queued_once_by_the_check_that_finds_it_due():
    # Alert at 330 s; reminders 600 s and 1200 s after it.
    state, decisions = run_reminding(initial_state(s(0)), s(0), 30, 1560)
    assert at_outcome(decisions, CheckOutcome.REMINDER) == [930, 1530]
    numbers = [
        claim.notice.reminder
        for _, d in decisions
        for claim in d.claims
        if claim.notice.kind is NoticeKind.REMIND and claim.channel == "email"
    ]
    assert numbers == [1, 2] and state.outage.reminded == 2
    # A racing checker that read the state before the reminder was queued loses the
    # ETag race and re-decides on the new state: nothing more is due.
    assert check(state, s(0), s(1540), policy=REMINDING).outcome is (
        CheckOutcome.WAITING
    )


def test_no_reminder_without_the_setting_or_while_disabled_or_after_the_all_clear():
    _, plain = run_checks(initial_state(s(0)), s(0), 30, 1560)
    assert not at_outcome(plain, CheckOutcome.REMINDER)
    state, _ = run_reminding(initial_state(s(0)), s(0), 30, 600)
    off = decide_disable(state, s(610), None).new_state
    _, disabled = run_reminding(off, s(0), 630, 1800)
    assert not at_outcome(disabled, CheckOutcome.REMINDER)
    clear = check(state, s(700), s(720), policy=REMINDING)
    assert clear.outcome is CheckOutcome.ALL_CLEAR
    _, after = run_reminding(delivered_with_receipts(clear), s(700), 750, 1000)
    assert not at_outcome(after, CheckOutcome.REMINDER)


def test_reminders_missed_while_the_monitor_was_away_come_as_one():
    state, _ = run_reminding(initial_state(s(0)), s(0), 30, 330)
    late = check(state, s(0), s(330 + 1900), policy=REMINDING)
    assert late.outcome is CheckOutcome.REMINDER
    assert [c.notice.reminder for c in late.claims] == [3, 3]


def test_later_notices_of_an_outage_thread_to_its_first_delivered_one():
    state, decisions = run_reminding(initial_state(s(0)), s(0), 30, 960)
    alert = next(d for _, d in decisions if d.outcome is CheckOutcome.ALERT)
    down = alert.claims[0].notice
    assert all(c.thread is None for c in alert.claims)
    reminder = next(d for _, d in decisions if d.outcome is CheckOutcome.REMINDER)
    assert {c.channel: c.thread for c in reminder.claims} == {
        "email": f"email:{down.id}",
        "slack": f"slack:{down.id}",
    }
    clear = check(state, s(970), s(990), policy=REMINDING)
    assert {c.thread for c in clear.claims} == {f"email:{down.id}", f"slack:{down.id}"}
    assert clear.claims[0].notice.outage_id == down.id
    # Once the all-clear is out everywhere, the outage's receipts are forgotten.
    assert delivered_with_receipts(clear).receipts == ()


def test_a_forced_repeat_of_the_alert_does_not_move_the_thread():
    state, decisions = run_reminding(initial_state(s(0)), s(0), 30, 360)
    down = next(d for _, d in decisions if d.outcome is CheckOutcome.ALERT)
    repeat = decide_notify(
        state, s(0), NoticeKind.DOWN, s(400), REMINDING, force=True, token="a"
    )
    after = delivered_with_receipts(repeat)
    assert after.thread_of(down.claims[0].notice.id, "slack") == (
        f"slack:{down.claims[0].notice.id}"
    )
