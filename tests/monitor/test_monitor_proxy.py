"""Storage through an HTTP proxy named in the environment: the clients read the proxy
settings once at start (lvmbeat_monitor/proxies.py) instead of on every request, and
a proxy that applies is still used; NO_PROXY still exempts a host."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from local_app import serve_locally

from lvmbeat_monitor.state import StorageUnavailable


@dataclass
class RefusingProxy:
    """An HTTP proxy on loopback that records each request and refuses it (503), so
    a test can see that storage requests went to it."""

    url: str
    received: list[str] = field(default_factory=list)


@pytest.fixture
async def refusing_proxy() -> AsyncIterator[RefusingProxy]:
    received: list[str] = []

    async def refuse(request: web.Request) -> web.Response:
        # A request to a proxy names the whole URL (absolute form).
        received.append(f"{request.method} {request.raw_path}")
        return web.Response(status=503, text="refused by the test proxy")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", refuse)
    runner, port = await serve_locally(app)
    yield RefusingProxy(f"http://127.0.0.1:{port}", received)
    await runner.cleanup()


@pytest.fixture
def proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The environment without any proxy settings of the machine's own."""
    for name in ("http_proxy", "https_proxy", "no_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return monkeypatch


async def test_storage_goes_through_the_proxy_the_environment_names(
    monitor_env, make_monitor, refusing_proxy, proxy_env
):
    proxy_env.setenv("HTTP_PROXY", refusing_proxy.url)
    monitor = make_monitor(monitor_env)
    with pytest.raises(StorageUnavailable, match="HTTP 503"):
        await monitor.service.heartbeat()
    endpoint = monitor_env["LVMBEAT_STORAGE_CONNECTION_STRING"].split("TableEndpoint=")[
        1
    ]
    assert refusing_proxy.received
    assert all(
        line.startswith("PUT " + endpoint.rstrip(";/"))
        for line in refusing_proxy.received
    )


async def test_no_proxy_exempts_the_storage_host(
    monitor_env, make_monitor, refusing_proxy, proxy_env
):
    proxy_env.setenv("HTTP_PROXY", refusing_proxy.url)
    proxy_env.setenv("NO_PROXY", "127.0.0.1")
    monitor = make_monitor(monitor_env)
    await monitor.service.heartbeat()
    assert (await monitor.service.store.read()).last_seen is not None
    assert refusing_proxy.received == []
