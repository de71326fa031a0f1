"""The small aiohttp apps tests serve on loopback (stand-ins for Slack, a webhook
receiver, the external monitor): one way to start them."""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable

from aiohttp import web


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def serve_locally(
    app: web.Application, tls: ssl.SSLContext | None = None
) -> tuple[web.AppRunner, int]:
    """Serve `app` on a free loopback port, chosen by the system when binding (so no
    other process can take it in between), over HTTPS when given a server `tls`
    context; return the runner, whose cleanup() stops it, and the port."""
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls).start()
    return runner, runner.addresses[0][1]


async def serve_route(
    path: str, handler: Handler, tls: ssl.SSLContext | None = None
) -> tuple[web.AppRunner, str]:
    """Serve one handler, for every method, at `path` (an aiohttp route pattern);
    return the runner and the base URL (`http(s)://127.0.0.1:<port>`)."""
    app = web.Application()
    app.router.add_route("*", path, handler)
    runner, port = await serve_locally(app, tls)
    return runner, f"{'https' if tls else 'http'}://127.0.0.1:{port}"
