"""Operators' scenarios end to end: real table (Azurite), real SMTP server, an injected
clock driving the checks (one every 10 s, alert after 60 s of silence)."""

from __future__ import annotations

import asyncio

import pytest
from monitor_support import smtp_env

from lvmbeat_local.dev.ports import free_port
from lvmbeat_local.dev.smtp import start_smtp_server
from lvmbeat_monitor.decide import CheckOutcome
from lvmbeat_monitor.service import CheckFailed, CheckResult
from lvmbeat_monitor.state import StorageUnavailable


DOWN = "LCO internet is down"
UP = "RESOLVED: LCO internet is up"


def subjects(server) -> list[str]:
    return [str(mail.message["Subject"]) for mail in server.sink.messages]


async def check(service) -> CheckResult | CheckFailed:
    """One timer run: its result, or the CheckFailed it raised (a failed run)."""
    try:
        return await service.check()
    except CheckFailed as failed:
        return failed


async def run_checks(service, clock, seconds: int, *, heartbeat_every=None):
    """Advance the clock one check period at a time, checking each time."""
    results = []
    for tick in range(seconds // 10):
        clock.advance(seconds=10)
        if heartbeat_every and (tick * 10) % heartbeat_every == 0:
            await service.heartbeat()
        results.append(await check(service))
    return results


def outcomes(results) -> list[CheckOutcome | str]:
    return [r.outcome if isinstance(r, CheckResult) else "failed" for r in results]


async def started(service) -> None:
    """The actor's first heartbeat and the monitor's first check."""
    await service.heartbeat()
    await service.check()


async def test_it_sends_one_alert_and_one_all_clear_for_an_outage(
    monitor_env, make_monitor, clock, smtp_server
):
    service = make_monitor({**monitor_env, **smtp_env(smtp_server)}).service
    await started(service)
    await run_checks(service, clock, 300)  # silence for 5 min
    assert subjects(smtp_server) == [DOWN]
    assert (await service.status())["active"] is True
    await run_checks(service, clock, 120, heartbeat_every=10)
    assert subjects(smtp_server) == [DOWN, UP]
    alert, all_clear = (mail.message for mail in smtp_server.sink.messages)
    # The silence it states is the real one (grace 60 s, checks every 10 s), not the
    # threshold; the time is given in UTC and in Chile's (UTC-3 in March).
    assert "No heartbeat from LCO for 1 min 10 s." in alert.get_content()
    assert (
        "Last heartbeat: 2026-03-01 12:00:00 UTC (2026-03-01 09:00:00 -03 in Chile)"
        in alert.get_content()
    )
    assert "The outage lasted about 5 min 10 s" in all_clear.get_content()
    # Mail clients show the all-clear under the alert.
    assert all_clear["In-Reply-To"] == alert["Message-ID"]
    assert all_clear["References"] == alert["Message-ID"]
    assert (await service.status())["active"] is False


async def test_a_new_monitor_waits_for_the_first_heartbeat_and_never_alerts_before(
    monitor_env, make_monitor, clock, smtp_server
):
    # A first deployment, before the actor has the new URL and key: no false alert.
    service = make_monitor({**monitor_env, **smtp_env(smtp_server)}).service
    await service.check()
    results = await run_checks(service, clock, 600)
    assert set(outcomes(results)) == {CheckOutcome.UNARMED}
    assert subjects(smtp_server) == []
    assert (await service.status())["state"] == "waiting"
    await service.heartbeat()  # the actor reaches it: armed from now on
    assert (await service.status())["state"] == "up"
    await run_checks(service, clock, 80)
    assert subjects(smtp_server) == [DOWN]


async def test_a_restart_in_the_middle_of_an_outage_sends_no_second_alert(
    monitor_env, make_monitor, clock, smtp_server
):
    env = {**monitor_env, **smtp_env(smtp_server)}
    first = make_monitor(env).service
    await started(first)
    await run_checks(first, clock, 120)
    assert subjects(smtp_server) == [DOWN]
    clock.advance(minutes=10)  # the monitor is redeployed during the outage
    restarted = make_monitor(env).service
    results = [await restarted.check(past_due=True)]
    results += await run_checks(restarted, clock, 600)
    assert set(outcomes(results)) == {CheckOutcome.WAITING}
    assert subjects(smtp_server) == [DOWN]
    await run_checks(restarted, clock, 30, heartbeat_every=10)
    assert subjects(smtp_server) == [DOWN, UP]


async def test_a_send_that_fails_is_retried_by_every_check_and_delivered_once(
    monitor_env, make_monitor, clock, smtp_server
):
    service = make_monitor({**monitor_env, **smtp_env(smtp_server)}).service
    await started(service)
    smtp_server.sink.fail_next = 4
    results = await run_checks(service, clock, 70)
    assert outcomes(results)[-1] == "failed"  # the alert's first attempt
    assert "451" in str(results[-1])
    status = await service.status()
    assert status["pending"] == "down" and status["last_error"] == "refused"
    assert status["channels"]["email"] == {"pending": "down", "last_error": "refused"}
    retries = await run_checks(service, clock, 40)
    assert outcomes(retries) == ["failed"] * 3 + [CheckOutcome.WAITING]
    assert subjects(smtp_server) == [DOWN]
    await run_checks(service, clock, 60)
    assert subjects(smtp_server) == [DOWN]  # delivered once, not again
    status = await service.status()
    assert status["pending"] is None and status["last_error"] is None


async def test_the_monitors_own_downtime_is_not_reported_as_an_outage(
    monitor_env, make_monitor, clock, smtp_server
):
    env = {**monitor_env, **smtp_env(smtp_server)}
    service = make_monitor(env).service
    await started(service)
    await run_checks(service, clock, 30, heartbeat_every=10)
    # The monitor stops for longer than the grace; LCO's heartbeats cannot reach it.
    clock.advance(seconds=600)
    restarted = make_monitor(env).service
    back_at = clock.now()
    results = [await restarted.check()]
    assert results[0].outcome is CheckOutcome.RESUMED
    results += await run_checks(restarted, clock, 120)
    alert_at = [i for i, r in enumerate(outcomes(results)) if r is CheckOutcome.ALERT]
    assert subjects(smtp_server) == [DOWN]
    assert alert_at == [7]  # the first check after 60 s of silence with it running
    assert clock.now() - back_at >= restarted.policy.grace


@pytest.mark.parametrize("down_for", [15, 25, 35, 45])
async def test_a_short_monitor_restart_while_lco_beats_sends_nothing(
    monitor_env, make_monitor, clock, smtp_server, down_for
):
    # The first break of the protocol issue, with make run's numbers (30 s grace,
    # a check every 5 s): a monitor away for less than a grace used to find a
    # "young" silence past the grace on its return, alert at once, then resolve.
    env = {
        **monitor_env,
        **smtp_env(smtp_server),
        "LVMBEAT_SEND_EMAIL_AFTER": "30",
        "LVMBEAT_CHECK_SCHEDULE": "*/5 * * * * *",
    }
    service = make_monitor(env).service
    await started(service)
    for _ in range(12):
        clock.advance(seconds=5)
        await service.heartbeat()
        await service.check()
    clock.advance(seconds=down_for)  # no checks run, no heartbeat reaches it
    restarted = make_monitor(env).service
    results = []
    for _ in range(12):
        clock.advance(seconds=5)
        results.append(await restarted.check())
        await restarted.heartbeat()  # LCO's next heartbeat gets through
    assert subjects(smtp_server) == []
    assert outcomes(results)[0] is CheckOutcome.RESUMED


async def test_a_timed_disable_ends_by_itself(
    monitor_env, make_monitor, clock, smtp_server
):
    service = make_monitor({**monitor_env, **smtp_env(smtp_server)}).service
    await started(service)
    await service.disable(minutes=5)
    status = await service.status()
    assert status["enabled"] is False and status["state"] == "disabled"
    assert status["disabled_until"] == "2026-03-01T12:05:00Z"
    await run_checks(service, clock, 290)
    assert subjects(smtp_server) == []  # silent but disabled
    await run_checks(service, clock, 20)
    assert (await service.status())["enabled"] is True
    assert (await service.status())["disabled_until"] is None
    await run_checks(service, clock, 50)  # 60 s since the window ended at 12:05:00
    assert subjects(smtp_server) == []  # grace counts from the end of the window
    await run_checks(service, clock, 10)
    assert subjects(smtp_server) == [DOWN]


async def test_racing_checkers_send_one_alert_and_one_all_clear_per_outage(
    monitor_env, make_monitor, clock, smtp_server
):
    env = {**monitor_env, **smtp_env(smtp_server)}
    monitors = [make_monitor(env) for _ in range(4)]
    checkers = [monitor.service for monitor in monitors]
    lco = checkers[0]
    await started(lco)

    async def check_together():
        return await asyncio.gather(*(check(service) for service in checkers))

    cycles = 20
    results = []
    for _ in range(cycles):
        for _ in range(8):  # 80 s of silence: past the 60 s grace
            clock.advance(seconds=10)
            results += await check_together()
        for _ in range(2):  # LCO is back
            clock.advance(seconds=10)
            await lco.heartbeat()
            results += await check_together()
    decided = outcomes(results)
    assert decided.count(CheckOutcome.ALERT) == cycles
    assert decided.count(CheckOutcome.ALL_CLEAR) == cycles
    lost_races = sum(m.transport.statuses.count(412) for m in monitors)
    assert lost_races > 0  # the checkers really did race for the same transitions
    assert subjects(smtp_server) == [DOWN, UP] * cycles


async def test_an_alert_waits_for_a_mail_server_that_is_down_and_goes_out_once(
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
    await started(service)
    results = await run_checks(service, clock, 120)  # nobody listens on the port yet
    failures = [r for r in results if isinstance(r, CheckFailed)]
    assert len(failures) >= 3
    assert all("unreachable" in str(r) for r in failures)
    assert (await service.status())["last_error"] == "unreachable"
    server = start_smtp_server(port=port)  # the mail server comes back
    try:
        await run_checks(service, clock, 60)
        assert subjects(server) == [DOWN]
        assert (await service.status())["last_error"] is None
    finally:
        server.stop()


class _AnsweredWithAnError:
    """Table Storage applied the next write but the answer was lost (a timeout, a
    5xx after the commit): the writer sees StorageUnavailable."""

    def __init__(self, store) -> None:
        self._store = store
        self.armed = False

    def __getattr__(self, name):
        return getattr(self._store, name)

    async def save(self, state, etag):
        written = await self._store.save(state, etag)
        if self.armed:
            self.armed = False
            raise StorageUnavailable("the answer to an applied write was lost")
        return written


async def test_a_claim_applied_but_answered_with_an_error_is_sent_at_once(
    monitor_env, make_monitor, clock, smtp_server
):
    # The explorer's "applied but error" fault: the claimer re-reads, finds its own
    # claim and sends now, instead of failing and leaving the alert to wait out its
    # own lease (3 min).
    service = make_monitor({**monitor_env, **smtp_env(smtp_server)}).service
    await started(service)
    await run_checks(service, clock, 60)  # silent for the grace (60 s)
    service.store = _AnsweredWithAnError(service.store)
    service.store.armed = True
    clock.advance(seconds=10)
    result = await service.check()
    assert result.outcome is CheckOutcome.ALERT
    assert subjects(smtp_server) == [DOWN]
    assert (await service.status())["pending"] is None
