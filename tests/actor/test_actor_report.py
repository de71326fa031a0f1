"""LCO's last word and the log lines that tell LCO's staff what the actor stopped
doing: real CLU actors (the actor, the simulated lvmecp) on the local RabbitMQ, and a
local HTTP endpoint in place of the monitor that checks each report with the
monitor's own validation."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from actor_support import command
from aiohttp import web
from local_app import serve_route

from lvmbeat_monitor.report import Report, parse_report


@dataclass
class ReportSink:
    """The monitor's `/heartbeat` as far as reports go: validates each body with the
    monitor's parser and answers as the monitor does."""

    reports: list[Report | None] = field(default_factory=list)
    methods: list[str] = field(default_factory=list)
    refuse: str | None = None
    url: str = ""

    async def heartbeat(self, request: web.Request) -> web.Response:
        self.methods.append(request.method)
        self.reports.append(parse_report(await request.read()))
        answer = {"message": "Heartbeat received.", "last_seen": "2026-01-01T00:00:00Z"}
        if self.refuse:
            answer["report_error"] = self.refuse
        return web.json_response(answer)


@pytest.fixture
async def sink() -> AsyncIterator[ReportSink]:
    monitor = ReportSink()
    runner, monitor.url = await serve_route("/heartbeat", monitor.heartbeat)
    yield monitor
    await runner.cleanup()


def outside(sink: ReportSink) -> dict:
    return {"outside_monitor": {"url": sink.url, "interval": 0.2, "timeout": 0.19}}


async def test_each_call_posts_what_the_actor_knows_and_the_monitor_accepts_it(
    make_config, start_actor, start_ecp, client, sink
):
    ecp = await start_ecp()
    actor = await start_actor(make_config(outside(sink)))
    await actor.outside.calls.reach(1)
    first = sink.reports[-1]

    await command(client, actor.name, "set overwatcher")
    await ecp.arrivals.get()
    await actor.emitter.attempts.reach(1)
    await actor.outside.calls.reach(actor.outside.calls.count + 1)
    latest = sink.reports[-1]

    assert set(sink.methods) == {"POST"}
    assert (first.critical_current, first.stale) == (False, ("overwatcher",))
    assert first.last_emitted_ecp is None
    assert latest.critical_current is True and latest.stale == ()
    assert latest.last_emitted_ecp == actor.emitter.last_emitted.replace(microsecond=0)
    assert latest.network == {"lco": True, "outside": True}


async def test_the_report_holds_no_host_address_or_key(make_config, start_actor, sink):
    config = make_config(
        {
            **outside(sink),
            "outside_monitor": {**outside(sink)["outside_monitor"], "key": "k-secret"},
        }
    )
    actor = await start_actor(config)
    await actor.outside.calls.reach(1)
    text = json.dumps(actor.report())
    for check in config.network.checks.values():
        assert check.host not in text and str(check.port) not in text
    assert "k-secret" not in text and "127.0.0.1" not in text


async def test_a_refused_report_is_logged_once_with_its_reason(
    make_config, start_actor, sink, caplog
):
    sink.refuse = "report refused, field 'stale': each name must be a word."
    actor = await start_actor(make_config(outside(sink)))
    await actor.outside.calls.reach(3)
    said = [
        r.getMessage() for r in caplog.records if "refused its report" in r.getMessage()
    ]
    assert len(said) == 1 and "field 'stale'" in said[0]


def watch_lines(caplog, actor) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == actor.log.name and "PLC heartbeat" in r.getMessage()
    ]


async def test_a_stale_heartbeat_is_logged_once_with_what_it_means_and_its_return(
    make_config, start_actor, start_ecp, client, clock, caplog
):
    caplog.set_level(logging.INFO)
    await start_ecp()
    actor = await start_actor(make_config(), clock=clock)
    await actor.watch.changes.reach(1)  # at start: never set
    await command(client, actor.name, "set overwatcher")
    await actor.emitter.attempts.reach(1)
    clock.advance(31)
    await actor.watch.changes.reach(3)
    await command(client, actor.name, "set overwatcher")

    lines = watch_lines(caplog, actor)
    assert lines[0].startswith(
        "overwatcher not set since the actor started: not writing the PLC heartbeat"
    )
    assert "writing the PLC heartbeat again" in lines[1]
    assert lines[2] == (
        "overwatcher last seen 31 s ago: not writing the PLC heartbeat; the dome "
        "closes in about 29 s."
    )
    assert "writing the PLC heartbeat again" in lines[3]
    assert len(lines) == 4


async def test_a_blocking_network_check_going_down_is_logged_with_the_dome(
    make_config, start_actor, start_ecp, client, outside_listener, caplog
):
    await start_ecp()
    actor = await start_actor(make_config())
    await command(client, actor.name, "set overwatcher")
    await actor.emitter.attempts.reach(1)
    changes = actor.watch.changes.count
    await outside_listener.close()
    await actor.watch.changes.reach(changes + 1)

    [line] = [m for m in watch_lines(caplog, actor) if "'outside'" in m]
    assert line.startswith("network check 'outside' is down: not writing the PLC")
    assert "the dome closes in about" in line


async def until_outside_is(actor, *, up: bool) -> None:
    while actor.network.is_up("outside") is not up:
        await actor.network.rounds.reach(actor.network.rounds.count + 1)


async def test_the_simulated_lvmecp_sets_the_network_flag_from_lvmbeat_status(
    make_config, start_actor, start_ecp, outside_listener, caplog
):
    actor = await start_actor(make_config())
    ecp = await start_ecp(beat_actor=actor.name, poll_interval=0.1)
    await ecp.sim.polls.reach(1)
    assert ecp.sim.network_failure is False

    await outside_listener.close()
    await until_outside_is(actor, up=False)
    # A poll in flight may carry the status from before; the one after it cannot.
    await ecp.sim.polls.reach(ecp.sim.polls.count + 2)
    assert ecp.sim.network_failure is True
    await outside_listener.open()
    await until_outside_is(actor, up=True)
    await ecp.sim.polls.reach(ecp.sim.polls.count + 2)

    said = [
        r.getMessage() for r in caplog.records if "network-failure" in r.getMessage()
    ]
    assert ecp.sim.network_failure is False
    assert len(said) == 2
    assert "internet: down" in said[0] and "flag is set" in said[0]
    assert "flag is cleared" in said[1]


async def test_the_simulated_lvmecp_says_each_plc_heartbeat_and_a_closed_dome(
    start_ecp, client, caplog
):
    caplog.set_level(logging.INFO)
    ecp = await start_ecp(dome_timeout=0.2)
    await ecp.sim.wait_dome_closed()
    ecp.sim.dome_timeout = 60  # reopened, it stays open for the rest of the test
    for words in ("heartbeat", "open", "heartbeat"):
        await asyncio.wait_for(await client.send_command(ecp.sim.name, words), 10)

    said = [r.getMessage() for r in caplog.records if r.name == ecp.sim.log.name]
    written = [m for m in said if m.startswith("PLC heartbeat written")]
    assert "the dome stays closed until reopened" in written[0]
    assert written[1] == "PLC heartbeat written; the dome stays open."
    assert any("the PLC closes the dome" in m for m in said)
