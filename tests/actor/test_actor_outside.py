"""The outside-monitor loop against a local HTTP endpoint."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from actor_support import command, final
from aiohttp import web
from local_app import serve_route

from lvmbeat.config import OutsideMonitorSection, load_config
from lvmbeat.outside import OutsidePinger, heartbeat_url
from lvmbeat_local.dev.ports import free_port


@dataclass
class FakeMonitor:
    """A local stand-in for the monitor's `/heartbeat`, recording each request."""

    status: int = 200
    requests: list[web.Request] = field(default_factory=list)
    url: str = ""

    async def heartbeat(self, request: web.Request) -> web.Response:
        self.requests.append(request)
        return web.json_response(
            {"message": "Heartbeat received.", "last_seen": "2026-01-01T00:00:00Z"},
            status=self.status,
        )


@pytest.fixture
async def fake_monitor() -> AsyncIterator[FakeMonitor]:
    monitor = FakeMonitor()
    runner, monitor.url = await serve_route("/heartbeat", monitor.heartbeat)
    yield monitor
    await runner.cleanup()


@pytest.mark.parametrize(
    ("configured", "called"),
    [
        ("https://lvmbeat.example.org", "https://lvmbeat.example.org/heartbeat"),
        ("https://lvmbeat.example.org/", "https://lvmbeat.example.org/heartbeat"),
        (
            "https://lvmbeat.example.org/heartbeat",
            "https://lvmbeat.example.org/heartbeat",
        ),
        ("https://h.example.org/api?x=1", "https://h.example.org/api/heartbeat?x=1"),
    ],
)
def test_heartbeat_is_appended_only_when_missing(configured, called):
    assert heartbeat_url(configured) == called


async def test_the_actor_calls_the_monitor_with_the_key_and_reports_it(
    make_config, start_actor, client, fake_monitor
):
    config = make_config(
        {
            "outside_monitor": {
                "url": fake_monitor.url,
                "key": "k-123",
                "interval": 0.2,
                "timeout": 0.19,
            }
        }
    )
    actor = await start_actor(config)

    await actor.outside.calls.reach(2)
    status = final(await command(client, actor.name, "status"))

    request = fake_monitor.requests[0]
    assert request.path == "/heartbeat"
    assert request.headers["x-functions-key"] == "k-123"
    assert status["last_emitted_outside"] is not None
    assert status["outside_monitor"]["reachable"] is True
    assert "k-123" not in str(status)


async def test_the_environment_url_wins_over_the_config_file(tmp_path, fake_monitor):
    config_file = tmp_path / "lvmbeat.yaml"
    config_file.write_text(
        "outside_monitor: {url: 'http://127.0.0.1:9/wrong', interval: 1}\n"
    )

    config = load_config(
        config_file,
        environ={
            "LVMBEAT_OUTSIDE_MONITOR_URL": fake_monitor.url,
            "LVMBEAT_OUTSIDE_MONITOR_KEY": "from-env",
        },
    )
    pinger = OutsidePinger(config.outside_monitor, log=logging.getLogger("test"))
    task = asyncio.create_task(pinger.run())
    await pinger.calls.reach(1)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)

    assert pinger.url == f"{fake_monitor.url}/heartbeat"
    assert fake_monitor.requests[0].headers["x-functions-key"] == "from-env"


async def test_a_down_monitor_is_logged_when_it_goes_down_and_when_it_returns(
    fake_monitor, caplog
):
    config = OutsideMonitorSection(url=fake_monitor.url, interval=0.2, timeout=0.19)
    pinger = OutsidePinger(config, log=logging.getLogger("test.outside"))
    task = asyncio.create_task(pinger.run())
    await pinger.calls.reach(1)
    fake_monitor.status = 503
    await pinger.calls.reach(pinger.calls.count + 3)
    down_error = pinger.last_error
    fake_monitor.status = 200
    await pinger.calls.reach(pinger.calls.count + 2)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)

    messages = [r.getMessage() for r in caplog.records if r.name == "test.outside"]
    assert down_error == "the monitor answered HTTP 503"
    assert sum("unreachable" in m for m in messages) == 1
    assert sum("answers again" in m for m in messages) == 1
    assert pinger.reachable is True


async def test_an_unreachable_monitor_keeps_the_loop_going(caplog):
    url = f"http://127.0.0.1:{free_port()}"
    config = OutsideMonitorSection(url=url, interval=0.05)
    pinger = OutsidePinger(config, log=logging.getLogger("test.outside"))
    task = asyncio.create_task(pinger.run())
    await pinger.calls.reach(3)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)

    assert pinger.reachable is False
    assert pinger.last_emitted is None
    assert "ConnectError" in pinger.last_error
