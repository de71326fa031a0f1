"""LCO's last word: the actor's report in the body of `POST /heartbeat`, kept with the
heartbeat (one write), shown on `/status` and quoted in the alert. Real Azurite, a
real SMTP server and the functions the Azure host indexes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import azure.functions as func
import pytest
from monitor_support import smtp_env
from test_monitor_routes import indexed

from lvmbeat_monitor import runtime
from lvmbeat_monitor.report import (
    MAX_REPORT_BYTES,
    LastReport,
    describe_report,
    parse_report,
)


REPORT = {
    "version": "1.2.0",
    "critical_current": True,
    "stale": [],
    "last_emitted_ecp": "2026-03-01T04:12:01Z",
    "network": {"lco": True, "outside": True},
}


async def post_heartbeat(body: bytes) -> tuple[int, dict]:
    for handler, bindings in indexed().values():
        if bindings[0].get("route") == "heartbeat":
            request = func.HttpRequest(
                "POST", "http://127.0.0.1:7071/heartbeat", body=body, params={}
            )
            response = await handler(request)
            return response.status_code, json.loads(response.get_body())
    raise AssertionError("no function serves heartbeat")


async def get_status() -> dict:
    for handler, bindings in indexed().values():
        if bindings[0].get("route") == "status":
            request = func.HttpRequest(
                "GET", "http://127.0.0.1:7071/status", body=b"", params={}
            )
            return json.loads((await handler(request)).get_body())
    raise AssertionError("no function serves status")


@pytest.fixture
def env(monitor_env, smtp_server, monkeypatch):
    for name, value in {**monitor_env, **smtp_env(smtp_server)}.items():
        monkeypatch.setenv(name, value)
    runtime.use(None)
    yield
    runtime.use(None)


async def test_a_report_travels_with_the_heartbeat_and_shows_on_status(env):
    written = datetime.now(UTC) - timedelta(seconds=7)
    report = {**REPORT, "last_emitted_ecp": f"{written:%Y-%m-%dT%H:%M:%SZ}"}
    status, answer = await post_heartbeat(json.dumps(report).encode())
    assert status == 200 and "report_error" not in answer
    shown = (await get_status())["last_report"]
    assert shown["received_at"] == answer["last_seen"]
    assert shown["last_emitted_ecp"] == report["last_emitted_ecp"]
    assert shown["network"] == {"lco": True, "outside": True}
    # Within one day: the sentence gives the clock time only (or the full time
    # when the test runs across midnight).
    assert f"PLC heartbeat written {written:%H:%M:%S}" in shown["summary"] or (
        f"PLC heartbeat written {report['last_emitted_ecp']}" in shown["summary"]
    )
    assert "outside network up" in shown["summary"]


async def test_a_plain_heartbeat_after_a_report_leaves_no_stale_report(env):
    await post_heartbeat(json.dumps(REPORT).encode())
    status, answer = await post_heartbeat(b"")
    assert status == 200
    body = await get_status()
    assert body["last_seen"] == answer["last_seen"] and body["last_report"] is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"critical_current": "yes"}, "critical_current"),
        ({"stale": ["lco.example.org"]}, "stale"),
        ({"stale": ["10.8.8.46"]}, "stale"),
        ({"last_emitted_ecp": "yesterday"}, "last_emitted_ecp"),
        ({"network": {"lco": True}}, "network.outside"),
        ({"version": None}, "version"),
    ],
)
async def test_a_bad_report_costs_nothing_but_itself_and_is_named(env, change, field):
    before = (await get_status())["last_seen"]
    status, answer = await post_heartbeat(json.dumps({**REPORT, **change}).encode())
    assert status == 200
    assert f"field {field!r}" in answer["report_error"]
    body = await get_status()
    assert body["last_seen"] == answer["last_seen"] != before  # heartbeat recorded
    assert body["last_report"] is None


async def test_a_report_over_4_kib_or_not_json_is_refused_but_the_beat_counts(env):
    padded = {**REPORT, "padding": "x" * MAX_REPORT_BYTES}
    bodies = (json.dumps(padded).encode(), b"{not json", b"[1, 2]", b"[" * 4000)
    for body in bodies:
        status, answer = await post_heartbeat(body)
        assert status == 200 and "field 'body'" in answer["report_error"]
    assert (await get_status())["last_seen"] == answer["last_seen"]


async def test_extra_keys_are_ignored_not_refused(env):
    status, answer = await post_heartbeat(json.dumps({**REPORT, "new": 1}).encode())
    assert status == 200 and "report_error" not in answer


async def test_the_report_is_stored_in_the_heartbeats_single_write(
    monitor_env, make_monitor
):
    monitor = make_monitor(monitor_env)
    await monitor.service.heartbeat()  # creates the table on first use
    monitor.transport.reset()
    await monitor.service.heartbeat(parse_report(json.dumps(REPORT).encode()))
    assert monitor.transport.writes == 1 and monitor.transport.reads == 0
    snapshot = await monitor.service.store.read()
    assert snapshot.last_report is not None
    assert snapshot.last_report.received_at == snapshot.last_seen


async def test_the_alert_quotes_lcos_last_word(
    monitor_env, make_monitor, clock, smtp_server
):
    service = make_monitor({**monitor_env, **smtp_env(smtp_server)}).service
    last_word = {
        **REPORT,
        "critical_current": False,
        "stale": ["overwatcher"],
        "network": {"lco": True, "outside": False},
    }
    await service.heartbeat(parse_report(json.dumps(last_word).encode()))
    await service.check()
    for _ in range(30):  # 5 min of silence, a check every 10 s
        clock.advance(seconds=10)
        await service.check()
    [alert] = [mail.message for mail in smtp_server.sink.messages]
    text = alert.get_content()
    assert "At its last contact, 12:00:00 UTC, LCO reported:" in text
    assert "overwatcher not current" in text
    assert "outside network down" in text


def test_the_sentence_says_when_no_plc_heartbeat_was_ever_written():
    report = parse_report(json.dumps({**REPORT, "last_emitted_ecp": None}).encode())
    sentence = describe_report(
        LastReport(datetime(2026, 3, 1, 4, 12, 8, tzinfo=UTC), report), "LCO"
    )
    assert sentence.startswith("At its last contact, 04:12:08 UTC, LCO reported:")
    assert "PLC heartbeat not written since the actor started" in sentence
