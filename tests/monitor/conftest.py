"""Fixtures for the monitor: an injected clock, stores on Azurite that count their
requests, services wired to a real SMTP server, and a local ACS Email endpoint."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ssl
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import urlparse

import aiohttp
import pytest
from aiohttp import web
from azure.core.pipeline.transport import AioHttpTransport, AsyncHttpTransport
from monitor_support import FakeClock, monitor_settings

from lvmbeat_local.dev.azurite import AzuriteTables
from lvmbeat_local.dev.ports import free_port
from lvmbeat_monitor import runtime
from lvmbeat_monitor.service import MonitorService
from lvmbeat_monitor.settings import Settings, load_settings
from lvmbeat_monitor.state import AzureTableStore


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


class CountingTransport(AsyncHttpTransport):
    """The real (aiohttp) HTTP transport, recording each request that goes on the
    wire; `trace_config()` records the heartbeat writer's requests (table_put.py, not
    through the SDK) in the same lists."""

    def __init__(self) -> None:
        self._inner = AioHttpTransport()
        self.requests: list[tuple[str, str]] = []
        self.statuses: list[int] = []

    async def send(self, request, **kwargs):
        self.requests.append((request.method, urlparse(request.url).path))
        response = await self._inner.send(request, **kwargs)
        self.statuses.append(response.status_code)
        return response

    def trace_config(self) -> aiohttp.TraceConfig:
        trace = aiohttp.TraceConfig()

        async def started(session, context, params) -> None:
            self.requests.append((params.method, params.url.path))

        async def ended(session, context, params) -> None:
            self.statuses.append(params.response.status)

        trace.on_request_start.append(started)
        trace.on_request_end.append(ended)
        return trace

    async def open(self) -> None:
        await self._inner.open()

    async def close(self) -> None:
        await self._inner.close()

    async def __aenter__(self):
        await self._inner.__aenter__()
        return self

    async def __aexit__(self, *args) -> None:
        await self._inner.__aexit__(*args)

    @property
    def reads(self) -> int:
        return sum(1 for method, _ in self.requests if method == "GET")

    @property
    def writes(self) -> int:
        return len(self.requests) - self.reads

    def reset(self) -> None:
        self.requests.clear()
        self.statuses.clear()


@pytest.fixture
def monitor_env(azurite: AzuriteTables, table_name: str) -> dict[str, str]:
    """Settings for a monitor on a fresh Azurite table; tests add email settings."""
    return monitor_settings(azurite.connection_string, table_name)


@dataclass
class Monitor:
    """One monitor instance (as one Functions instance would be), and its traffic."""

    service: MonitorService
    transport: CountingTransport


@pytest.fixture
async def make_monitor(clock: FakeClock) -> AsyncIterator[Callable[..., Monitor]]:
    """Build monitor instances on the same table, each with its own client (as each
    Functions instance has); their connections close with the test."""
    built: list[Monitor] = []

    def build(env: dict[str, str], **options) -> Monitor:
        settings: Settings = load_settings(env)
        transport = CountingTransport()
        store = AzureTableStore.from_settings(
            settings, transport=transport, trace_configs=[transport.trace_config()]
        )
        monitor = Monitor(
            MonitorService(settings, store, clock=clock, **options), transport
        )
        built.append(monitor)
        return monitor

    yield build
    for monitor in built:
        await monitor.service.store.close()


@pytest.fixture
def installed_service() -> Iterator[Callable[[MonitorService | None], None]]:
    """Install a service for function_app's triggers; restore afterwards."""
    yield runtime.use
    runtime.use(None)


# --- a local ACS Email endpoint -------------------------------------------------


@dataclass
class AcsEndpoint:
    """Speaks the ACS Email REST API (send + operation status) over HTTPS."""

    port: int
    access_key: str
    received: list[dict] = field(default_factory=list)
    signatures_ok: list[bool] = field(default_factory=list)
    api_versions: list[str] = field(default_factory=list)
    fail_with: str | None = None  # an operation status such as "Failed"

    @property
    def connection_string(self) -> str:
        return f"endpoint=https://127.0.0.1:{self.port}/;accesskey={self.access_key}"


def _signature_ok(request: web.Request, body: bytes, key: str) -> bool:
    """Check the HMAC-SHA256 signature the ACS SDK puts on each request."""
    auth = request.headers.get("Authorization", "")
    if not auth.startswith(
        "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256"
    ):
        return False
    content_hash = base64.b64encode(hashlib.sha256(body).digest()).decode()
    if request.headers.get("x-ms-content-sha256") != content_hash:
        return False
    string_to_sign = (
        f"{request.method}\n{request.path_qs}\n{request.headers['x-ms-date']};"
        f"{request.host};{content_hash}"
    )
    expected = base64.b64encode(
        hmac.new(
            base64.b64decode(key), string_to_sign.encode(), hashlib.sha256
        ).digest()
    ).decode()
    return auth.endswith(f"&Signature={expected}")


@pytest.fixture
def acs_endpoint(server_tls_context: ssl.SSLContext) -> Iterator[AcsEndpoint]:
    endpoint = AcsEndpoint(
        port=free_port(), access_key=base64.b64encode(b"acs-test-key").decode()
    )
    operations: dict[str, str] = {}

    async def send(request: web.Request) -> web.Response:
        body = await request.read()
        endpoint.signatures_ok.append(_signature_ok(request, body, endpoint.access_key))
        endpoint.api_versions.append(request.query.get("api-version", ""))
        endpoint.received.append(await request.json())
        operation = request.headers.get("Operation-Id") or uuid.uuid4().hex
        operations[operation] = endpoint.fail_with or "Succeeded"
        location = (
            f"https://127.0.0.1:{endpoint.port}/emails/operations/{operation}"
            f"?api-version={request.query.get('api-version')}"
        )
        return web.json_response(
            {"id": operation, "status": "Running"},
            status=202,
            headers={"Operation-Location": location, "Retry-After": "0"},
        )

    async def operation(request: web.Request) -> web.Response:
        status = operations.get(request.match_info["id"])
        if status is None:
            return web.json_response({"error": {"code": "NotFound"}}, status=404)
        result: dict = {"id": request.match_info["id"], "status": status}
        if status != "Succeeded":
            result["error"] = {"code": "Rejected", "message": "Recipient rejected."}
        return web.json_response(result)

    app = web.Application()
    app.router.add_post("/emails:send", send)
    app.router.add_get("/emails/operations/{id}", operation)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    runner = web.AppRunner(app)

    async def start() -> None:
        await runner.setup()
        await web.TCPSite(
            runner, "127.0.0.1", endpoint.port, ssl_context=server_tls_context
        ).start()
        ready.set()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10), "the local ACS endpoint did not start"
    yield endpoint
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
