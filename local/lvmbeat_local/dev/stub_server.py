"""A small aiohttp app served from a thread with its own event loop, for `make run`'s
stand-ins (Slack, the webhook): the local chain runs no event loop of its own."""

from __future__ import annotations

import asyncio
import threading

from aiohttp import web

from lvmbeat_local.dev.ports import free_port


class ThreadedApp:
    """Serves `app` on 127.0.0.1:<free port> until stop()."""

    def __init__(self, app: web.Application) -> None:
        self.port = free_port()
        self._app = app
        self._loop = asyncio.new_event_loop()
        self._runner = web.AppRunner(app, access_log=None)
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def start(self, timeout: float = 10) -> ThreadedApp:
        ready = threading.Event()
        self._ready = ready
        self._thread.start()
        if not ready.wait(timeout):
            raise RuntimeError(f"the local stand-in on port {self.port} did not start")
        return self

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def open_site() -> None:
            await self._runner.setup()
            await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

        self._loop.run_until_complete(open_site())
        self._ready.set()
        self._loop.run_forever()
