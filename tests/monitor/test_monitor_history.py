"""The outage history (history.py) on Azurite: written on transitions only, the same
row whoever writes it, never in the way of an alert, and read back by /history."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import timedelta
from urllib.parse import urlencode

import azure.functions as func
import pytest
from azure.core.exceptions import ServiceRequestError
from monitor_support import START, smtp_env

import function_app
from lvmbeat_monitor import runtime
from lvmbeat_monitor.history import (
    PARTITION,
    AzureHistoryLog,
    OutageFacts,
    transition_facts,
)
from lvmbeat_monitor.model import MonitorState, Outage


async def history_rows(service) -> list[dict]:
    table = service.store.table_client
    return [
        row
        async for row in table.query_entities(
            "PartitionKey eq @pk", parameters={"pk": PARTITION}
        )
    ]


def history_writes(transport) -> int:
    """Requests of the last check that wrote to the history partition."""
    return sum(
        1
        for method, path in transport.requests
        if method != "GET" and f"PartitionKey='{PARTITION}'" in path
    )


async def outage_then_back(service, clock) -> None:
    """Heartbeat, 70 s of silence (grace 60 s, checks every 10 s), then back."""
    await service.heartbeat()
    await service.check()
    for _ in range(7):
        clock.advance(seconds=10)
        await service.check()
    clock.advance(seconds=10)
    await service.heartbeat()
    clock.advance(seconds=1)
    await service.check()


async def test_an_outage_leaves_one_row_with_its_whole_story(
    monitor_env, make_monitor, clock, smtp_server
):
    monitor = make_monitor({**monitor_env, **smtp_env(smtp_server)})
    service = monitor.service
    await outage_then_back(service, clock)
    [row] = await history_rows(service)
    history = await service.history(30)
    [outage] = history.outages
    assert outage.silent_since == START  # the last heartbeat before the silence
    assert outage.alerted_at == START + timedelta(seconds=70)
    assert outage.back_at == START + timedelta(seconds=80)
    assert outage.ended_at == START + timedelta(seconds=81)
    assert list(outage.reached) == ["email"]
    assert outage.duration(clock.now()) == timedelta(seconds=80)
    assert row["kind"] == "outage" and row["outage_id"] == outage.id


async def test_quiet_watching_and_waiting_checks_write_no_history(
    monitor_env, make_monitor, clock, smtp_server
):
    monitor = make_monitor({**monitor_env, **smtp_env(smtp_server)})
    service, transport = monitor.service, monitor.transport
    await service.heartbeat()
    await service.check()
    writes = {}
    for _ in range(10):
        clock.advance(seconds=10)
        transport.reset()
        outcome = (await service.check()).outcome.value
        writes.setdefault(outcome, set()).add(history_writes(transport))
    transport.reset()
    await service.heartbeat()
    assert history_writes(transport) == 0
    # The alert writes its row and the channel reached; nothing else does.
    assert writes == {"quiet": {0}, "watching": {0}, "alert": {2}, "waiting": {0}}


async def test_racing_checkers_and_a_retry_leave_one_row(
    monitor_env, make_monitor, clock, smtp_server
):
    env = {**monitor_env, **smtp_env(smtp_server)}
    first, second = make_monitor(env).service, make_monitor(env).service
    await outage_then_back(first, clock)
    [outage] = (await first.history(30)).outages
    # Another instance records the same facts again (a retry, a lost race): the same
    # row, and nothing it knew is lost.
    state = MonitorState(counting_from=START, last_check=clock.now())
    facts = OutageFacts(
        Outage(outage.id, outage.declared_at, START, outage.silent_since),
        reached=(("email", clock.now()),),
    )
    await second.history_log.record([facts], clock.now())
    assert len(await history_rows(first)) == 1
    [again] = (await second.history(30)).outages
    assert again.back_at == outage.back_at and again.ended_at == outage.ended_at
    assert transition_facts(state, state, clock.now()) == []


async def test_two_checkers_deciding_the_same_alert_write_one_row(
    monitor_env, make_monitor, clock, smtp_server
):
    env = {**monitor_env, **smtp_env(smtp_server)}
    first, second = make_monitor(env).service, make_monitor(env).service
    await first.heartbeat()
    await first.check()
    for _ in range(7):
        clock.advance(seconds=10)
        # Both at once: one wins the ETag race, the other re-reads and re-decides.
        await asyncio.gather(first.check(), second.check())
    assert len(smtp_server.sink.messages) == 1
    assert len(await history_rows(first)) == 1


async def test_a_failed_history_write_never_holds_back_the_alert(
    monitor_env, make_monitor, clock, smtp_server, caplog
):
    monitor = make_monitor({**monitor_env, **smtp_env(smtp_server)})
    service = monitor.service
    log = service.history_log
    assert isinstance(log, AzureHistoryLog)
    real_merge = log._merge

    async def storage_away(entity):
        raise ServiceRequestError("connection refused")

    log._merge = storage_away
    await service.heartbeat()
    await service.check()
    with caplog.at_level(logging.WARNING, logger="lvmbeat_monitor.history"):
        for _ in range(7):
            clock.advance(seconds=10)
            await service.check()
    subjects = [str(m.message["Subject"]) for m in smtp_server.sink.messages]
    assert subjects == ["LCO internet is down"]
    assert "Could not write 1 history fact(s) (outage" in caplog.text
    assert "next check writes them again" in caplog.text
    assert await history_rows(service) == []
    # Storage is back: the next check (a waiting one) writes what was missed.
    log._merge = real_merge
    clock.advance(seconds=10)
    await service.check()
    [outage] = (await service.history(30)).outages
    assert list(outage.reached) == ["email"] and outage.ended_at is None


async def test_a_maintenance_window_is_recorded_from_disable_to_enable(
    monitor_env, make_monitor, clock, smtp_server
):
    service = make_monitor({**monitor_env, **smtp_env(smtp_server)}).service
    await service.heartbeat()
    await service.check()
    await service.disable(30)
    clock.advance(minutes=10)
    await service.enable()
    [window] = (await service.history(30)).windows
    assert window.started_at == START
    assert window.until == START + timedelta(minutes=30)
    assert window.ended_at == START + timedelta(minutes=10)


async def test_a_timed_window_that_runs_out_ends_at_its_own_end(
    monitor_env, make_monitor, clock, smtp_server
):
    service = make_monitor({**monitor_env, **smtp_env(smtp_server)}).service
    await service.heartbeat()
    await service.check()
    await service.disable(1)
    clock.advance(seconds=65)
    await service.heartbeat()
    await service.check()
    [window] = (await service.history(30)).windows
    assert window.ended_at == START + timedelta(minutes=1)


async def test_rows_older_than_the_retention_go_when_a_new_outage_opens(
    monitor_env, make_monitor, clock, smtp_server
):
    env = {**monitor_env, **smtp_env(smtp_server), "LVMBEAT_HISTORY_DAYS": "5"}
    service = make_monitor(env).service
    old = START - timedelta(days=6)
    await service.history_log.record(
        [OutageFacts(Outage("old-outage", old, old, old), ended_at=old)], old
    )
    assert len(await history_rows(service)) == 1
    await outage_then_back(service, clock)
    rows = await history_rows(service)
    assert len(rows) == 1 and rows[0]["outage_id"] != "old-outage"


async def test_the_read_is_one_bounded_query_newest_first(
    monitor_env, make_monitor, clock, smtp_server
):
    monitor = make_monitor({**monitor_env, **smtp_env(smtp_server)})
    service, transport = monitor.service, monitor.transport
    for days_ago in (40, 20, 10, 1):
        moment = START - timedelta(days=days_ago)
        await service.history_log.record(
            [OutageFacts(Outage(f"o{days_ago}", moment, moment, moment))], moment
        )
    transport.reset()
    history = await service.history(30)
    assert transport.reads == 1
    assert [o.id for o in history.outages] == ["o1", "o10", "o20"]


# --- the routes ---------------------------------------------------------------------


async def request(route: str, params: dict | None = None, route_params=None):
    function_app.app.functions_bindings = None
    for fn in function_app.app.get_functions():
        trigger = json.loads(fn.get_raw_bindings()[0])
        if trigger.get("route") == route:
            query = urlencode(params or {})
            return await fn.get_user_function()(
                func.HttpRequest(
                    "GET",
                    "http://127.0.0.1:7071/" + (f"?{query}" if query else ""),
                    params=params or {},
                    route_params=route_params or {},
                    body=b"",
                )
            )
    raise AssertionError(f"no function serves {route}")


@pytest.fixture
def installed(monitor_env, smtp_server, make_monitor, installed_service):
    monitor = make_monitor({**monitor_env, **smtp_env(smtp_server)})
    installed_service(monitor.service)
    return monitor.service


async def test_history_answers_the_outages_as_the_contract_says(installed, clock):
    await outage_then_back(installed, clock)
    response = await request("history", {"days": "7"})
    assert response.status_code == 200 and response.mimetype == "application/json"
    body = json.loads(response.get_body())
    [outage] = body["outages"]
    assert set(outage) == {
        "id",
        "silent_since",
        "alerted_at",
        "back_at",
        "ended_at",
        "duration_s",
        "channels",
    }
    assert outage["silent_since"] == "2026-03-01T12:00:00Z"
    assert outage["alerted_at"] == "2026-03-01T12:01:10Z"
    assert outage["back_at"] == "2026-03-01T12:01:20Z"
    assert outage["duration_s"] == 80 and outage["channels"] == ["email"]


@pytest.mark.parametrize("days", ["0", "401", "week", "-1", "+3", "", "3.5", "\u0663"])
async def test_a_bad_days_value_is_a_400_that_names_it(installed, days):
    response = await request("history", {"days": days})
    body = json.loads(response.get_body())
    assert response.status_code == 400 and "days=" in body["error"]


async def test_the_page_is_html_and_any_other_path_under_it_is_a_404(installed):
    response = await request("{page?}")
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert "<title>LCO: Waiting for the first heartbeat · lvmbeat</title>" in (
        response.get_body().decode()
    )
    missing = await request("{page?}", route_params={"page": "nothing-here"})
    assert missing.status_code == 404


async def test_the_page_escapes_hostile_values(
    monitor_env, smtp_server, make_monitor, installed_service, clock
):
    hostile = '<script>alert("x")</script>&<b>'
    env = {**monitor_env, **smtp_env(smtp_server), "LVMBEAT_SITE_NAME": hostile}
    service = make_monitor(env).service
    installed_service(service)
    moment = clock.now() - timedelta(days=1)
    await service.history_log.record(
        [
            OutageFacts(
                Outage("<img src=x onerror=alert(1)>", moment, moment, moment),
                reached=(("<i>chan</i>", moment),),
            )
        ],
        moment,
    )
    page = (await request("{page?}")).get_body().decode()
    assert "<script>alert" not in page and "<b>" not in page and "<i>chan" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&lt;b&gt;" in page
    assert "<img" not in page
    # A channel's name is stored as a property name: reduced to letters and digits.
    assert "_i_chan__i_" in page


async def test_the_page_and_history_disclose_no_setting_or_address(installed, clock):
    await outage_then_back(installed, clock)
    page = (await request("{page?}")).get_body().decode()
    history = (await request("history")).get_body().decode()
    for secret in ("lco.test", "monitor.test", "127.0.0.1", "AccountKey", "smtp"):
        assert secret not in page and secret not in history
    runtime.use(None)
