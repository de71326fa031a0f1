"""Operators' scenarios end to end: real table (Azurite), real SMTP server, an injected
clock driving the checks (one every 10 s, alert after 60 s of silence)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from monitor_support import smtp_env

from lvmbeat.dev.ports import free_port
from lvmbeat.dev.smtp import start_smtp_server
from lvmbeat_monitor.decide import CheckOutcome


DOWN = "LCO internet is down"
UP = "RESOLVED: LCO internet is up"


def subjects(server) -> list[str]:
    return [str(mail.message["Subject"]) for mail in server.sink.messages]


def run_checks(service, clock, seconds: int, *, heartbeat_every: int | None = None):
    """Advance the clock one check period at a time, checking each time."""
    results = []
    for tick in range(seconds // 10):
        clock.advance(seconds=10)
        if heartbeat_every and (tick * 10) % heartbeat_every == 0:
            service.heartbeat()
        results.append(service.check())
    return results


def test_it_sends_one_alert_and_one_all_clear_for_an_outage(
    monitor_env, make_monitor, clock, smtp_server
):
    service = make_monitor({**monitor_env, **smtp_env(smtp_server)}).service
    service.heartbeat()
    service.check()
    run_checks(service, clock, 300)  # silence for 5 min
    assert subjects(smtp_server) == [DOWN]
    assert service.status()["active"] is True
    run_checks(service, clock, 120, heartbeat_every=10)
    assert subjects(smtp_server) == [DOWN, UP]
    alert, all_clear = (mail.message for mail in smtp_server.sink.messages)
    assert "Last heartbeat: 2026-03-01T12:00:00Z (UTC)" in alert.get_content()
    assert "The outage lasted about 5 min 10 s" in all_clear.get_content()
    assert service.status()["active"] is False


def test_a_restart_in_the_middle_of_an_outage_sends_no_second_alert(
    monitor_env, make_monitor, clock, smtp_server
):
    env = {**monitor_env, **smtp_env(smtp_server)}
    first = make_monitor(env).service
    first.heartbeat()
    first.check()
    run_checks(first, clock, 120)
    assert subjects(smtp_server) == [DOWN]
    clock.advance(minutes=10)  # the monitor is redeployed during the outage
    restarted = make_monitor(env).service
    results = [restarted.check(past_due=True)] + run_checks(restarted, clock, 600)
    assert {result.outcome for result in results} == {CheckOutcome.WAITING}
    assert subjects(smtp_server) == [DOWN]
    run_checks(restarted, clock, 30, heartbeat_every=10)
    assert subjects(smtp_server) == [DOWN, UP]


def test_a_send_that_fails_is_retried_by_every_check_and_delivered_once(
    monitor_env, make_monitor, clock, smtp_server
):
    service = make_monitor({**monitor_env, **smtp_env(smtp_server)}).service
    service.heartbeat()
    service.check()
    smtp_server.sink.fail_next = 4
    results = run_checks(service, clock, 70)
    assert results[-1].outcome is CheckOutcome.ALERT and results[-1].error
    status = service.status()
    assert status["pending"] == "down" and "451" in status["last_error"]
    retries = run_checks(service, clock, 40)
    assert [r.outcome for r in retries] == [CheckOutcome.RETRY] * 4
    assert [r.error is None for r in retries] == [False, False, False, True]
    assert subjects(smtp_server) == [DOWN]
    run_checks(service, clock, 60)
    assert subjects(smtp_server) == [DOWN]  # delivered once, not again
    status = service.status()
    assert status["pending"] is None and status["last_error"] is None
    assert status["last_sent"] == "down"


def test_the_monitors_own_downtime_is_not_reported_as_an_outage(
    monitor_env, make_monitor, clock, smtp_server
):
    env = {**monitor_env, **smtp_env(smtp_server)}
    service = make_monitor(env).service
    service.heartbeat()
    run_checks(service, clock, 30, heartbeat_every=10)
    # The monitor stops for longer than the grace; LCO's heartbeats cannot reach it.
    clock.advance(seconds=600)
    restarted = make_monitor(env).service
    back_at = clock.now()
    results = [restarted.check()]
    assert results[0].outcome is CheckOutcome.RESUMED
    results += run_checks(restarted, clock, 120)
    alert_at = [
        i for i, result in enumerate(results) if result.outcome is CheckOutcome.ALERT
    ]
    assert subjects(smtp_server) == [DOWN]
    assert alert_at == [7]  # the first check after 60 s of silence with it running
    assert clock.now() - back_at >= restarted.policy.send_email_after


def test_a_timed_disable_ends_by_itself(monitor_env, make_monitor, clock, smtp_server):
    service = make_monitor({**monitor_env, **smtp_env(smtp_server)}).service
    service.heartbeat()
    service.check()
    service.disable(minutes=5)
    status = service.status()
    assert status["enabled"] is False
    assert status["disabled_until"] == "2026-03-01T12:05:00Z"
    run_checks(service, clock, 290)
    assert subjects(smtp_server) == []  # silent but disabled
    run_checks(service, clock, 20)
    assert service.status()["enabled"] is True
    assert service.status()["disabled_until"] is None
    run_checks(service, clock, 50)  # 60 s since the window ended at 12:05:00
    assert subjects(smtp_server) == []  # grace counts from the end of the window
    run_checks(service, clock, 10)
    assert subjects(smtp_server) == [DOWN]


def test_racing_checkers_send_one_alert_and_one_all_clear_per_outage(
    monitor_env, make_monitor, clock, smtp_server
):
    env = {**monitor_env, **smtp_env(smtp_server)}
    monitors = [make_monitor(env, instance=f"checker-{i}") for i in range(4)]
    checkers = [monitor.service for monitor in monitors]
    lco = checkers[0]
    lco.heartbeat()
    checkers[0].check()
    start_together = threading.Barrier(len(checkers))

    def check_together(service):
        start_together.wait()
        return service.check()

    cycles = 20
    outcomes = []
    with ThreadPoolExecutor(len(checkers)) as pool:
        for _ in range(cycles):
            for _ in range(8):  # 80 s of silence: past the 60 s grace
                clock.advance(seconds=10)
                outcomes += pool.map(check_together, checkers)
            for _ in range(2):  # LCO is back
                clock.advance(seconds=10)
                lco.heartbeat()
                outcomes += pool.map(check_together, checkers)
    claims = [r.outcome for r in outcomes if r.sent]
    assert claims.count(CheckOutcome.ALERT) == cycles
    assert claims.count(CheckOutcome.ALL_CLEAR) == cycles
    lost_races = sum(m.transport.statuses.count(412) for m in monitors)
    assert lost_races > 0  # the checkers really did race for the same transitions
    sent = subjects(smtp_server)
    assert sent.count(DOWN) == cycles
    assert sent.count(UP) == cycles
    assert sent == [DOWN, UP] * cycles


def test_an_alert_waits_for_a_mail_server_that_is_down_and_goes_out_once(
    monitor_env, make_monitor, clock
):
    port = free_port()
    env = {
        **monitor_env,
        "LVMBEAT_EMAIL_BACKEND": "smtp",
        "LVMBEAT_EMAIL_HOST": "127.0.0.1",
        "LVMBEAT_EMAIL_PORT": str(port),
        "LVMBEAT_EMAIL_TLS": "false",
    }
    service = make_monitor(env).service
    service.heartbeat()
    service.check()
    results = run_checks(service, clock, 120)  # nobody listens on the port yet
    failures = [r for r in results if r.error]
    assert len(failures) >= 3
    assert all("Could not reach SMTP server" in r.error for r in failures)
    assert "Could not reach" in service.status()["last_error"]
    server = start_smtp_server(port=port)  # the mail server comes back
    try:
        run_checks(service, clock, 60)
        assert subjects(server) == [DOWN]
        assert service.status()["last_error"] is None
    finally:
        server.stop()
