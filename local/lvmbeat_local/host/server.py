"""Start the host: settings, app, HTTP server, timers; stop it cleanly on a signal.

Served on the open internet when self-hosted, so every read is bounded: a request's
head must arrive within the request timeout (else 408), its headers within aiohttp's
line and count limits (else 400), its body within the same timeout (408) and under
16 KiB (413); an idle keep-alive connection is closed. Every error is JSON.

On SIGINT or SIGTERM the host stops accepting requests, lets requests in flight and the
running timer call finish, then exits.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler

from lvmbeat_local.host.errors import HostError
from lvmbeat_local.host.http_trigger import HttpTriggers, json_error
from lvmbeat_local.host.invoke import Invoker
from lvmbeat_local.host.keys import KEY_SETTING, KeyCheck
from lvmbeat_local.host.loader import LoadedApp, find_app_dir, load_app
from lvmbeat_local.host.routes import RouteTable
from lvmbeat_local.host.settings import (
    LOCAL_SETTINGS_FILE,
    apply_settings,
    read_local_settings,
)
from lvmbeat_local.host.timer import TimerRunner


log = logging.getLogger("lvmbeat_local.host")

# The monitor's largest body is the actor's report (4 KiB, CONTRACT.md); Azure's own cap
# (100 MB) would let anyone make an anonymous route buffer that much.
MAX_REQUEST_BODY = 16 * 1024
# Request line and each header line at most this long, and at most this many headers
# (aiohttp's defaults for the first; browsers send some 20 headers).
MAX_HEADER_LINE = 8190
MAX_HEADERS = 64
# How long a stop waits for requests in flight and a running timer call.
SHUTDOWN_GRACE_SECONDS = 60.0


@dataclass(frozen=True)
class HostOptions:
    host: str = "127.0.0.1"
    port: int = 7071
    app_dir: Path | None = None
    # Seconds a client has to send a request's head, from its first byte, and then
    # its body: a client that trickles (slowloris) gets a 408 and the connection ends.
    request_timeout: float = 10.0
    # Seconds a kept-alive connection may sit with no request before it is closed.
    idle_timeout: float = 30.0


@dataclass
class PreparedHost:
    """Everything checked before the first socket is opened."""

    options: HostOptions
    app: LoadedApp
    routes: RouteTable
    keys: KeyCheck
    timers: list[TimerRunner]


def prepare(options: HostOptions) -> PreparedHost:
    """Read settings into the environment, import the app, check routes and schedules.

    Raises HostError with the cause when anything would stop the host from serving.
    """
    app_dir = find_app_dir(options.app_dir)
    file_settings = read_local_settings(app_dir)
    applied = apply_settings(file_settings)
    if file_settings:
        log.info(
            "Settings: %d from %s (%d overridden by the environment).",
            len(applied),
            app_dir / LOCAL_SETTINGS_FILE,
            len(file_settings) - len(applied),
        )
    app = load_app(app_dir)
    return PreparedHost(
        options=options,
        app=app,
        routes=RouteTable(app.http_functions, app.route_prefix),
        keys=KeyCheck(os.environ.get(KEY_SETTING) or None),
        timers=[TimerRunner(t) for t in app.timer_functions],
    )


class _BoundedConnection(RequestHandler):
    """aiohttp's connection handler with a deadline on each request head, and JSON
    for the errors aiohttp answers itself.

    aiohttp bounds header sizes and closes idle keep-alive connections, but waits for
    a head that trickles in for as long as the idle timeout allows and then closes
    without a word. Here the head gets `request_timeout` from its first byte, and a
    client too slow for it is told so (408) before the connection ends.
    """

    def __init__(self, *args: Any, request_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._request_timeout = request_timeout
        self._head_deadline: asyncio.TimerHandle | None = None

    def _between_requests(self) -> bool:
        """No request being served and no whole head waiting: bytes that arrive now
        start a head (during a request they are its body, or one pipelined after)."""
        return not self._request_in_progress and not self._messages

    def data_received(self, data: bytes) -> None:
        heads_before = self._request_count
        starts_a_head = self._between_requests()
        super().data_received(data)
        if self._request_count > heads_before:  # a whole head arrived
            self._cancel_head_deadline()
        elif data and starts_a_head and self._head_deadline is None:
            self._head_deadline = self._loop.call_later(
                self._request_timeout, self._head_too_slow
            )

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        if self.transport is None or self.transport.is_closing():
            return
        if not self._between_requests():  # the head made it after all
            return
        log.warning(
            "A request head did not arrive within %g s; closing the connection.",
            self._request_timeout,
        )
        body = _json_bytes(
            f"The request head did not arrive within {self._request_timeout:g} s."
        )
        self.transport.write(
            b"HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
            % (len(body), body)
        )
        self.force_close()
        self.transport.close()

    def _process_keepalive(self) -> None:
        # A head in progress belongs to the head deadline, which answers 408.
        if self._head_deadline is None:
            super()._process_keepalive()

    def _cancel_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def connection_lost(self, exc: BaseException | None) -> None:
        self._cancel_head_deadline()
        super().connection_lost(exc)

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """A request aiohttp's parser refused (a header over the limits, a bad request
        line): aiohttp logs it and answers; the answer is JSON here, and says only
        the kind of fault, never the request's text (it may hold the key)."""
        plain = super().handle_error(request, status, exc, message)
        if plain.status >= 500:
            text = "The host failed; its log has the cause."
        else:
            text = (
                f"The request could not be read ({plain.reason}): check its request "
                f"line and headers (at most {MAX_HEADERS} headers of "
                f"{MAX_HEADER_LINE} bytes each)."
            )
        answer = json_error(plain.status, text)
        answer.force_close()
        return answer


def _json_bytes(message: str) -> bytes:
    return json.dumps({"error": message}).encode()


class _BoundedServer(web.Server):
    """aiohttp's low-level server, making `_BoundedConnection`s."""

    def __init__(self, *args: Any, request_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._request_timeout = request_timeout

    def __call__(self) -> RequestHandler:
        return _BoundedConnection(
            self,
            loop=self._loop,
            request_timeout=self._request_timeout,
            **self._kwargs,
        )


def _bounded_request(
    message: Any, payload: Any, protocol: Any, writer: Any, task: Any
) -> web.BaseRequest:
    """aiohttp's request with the body cap: reading more answers 413."""
    return web.BaseRequest(
        message,
        payload,
        protocol,
        writer,
        task,
        asyncio.get_running_loop(),
        client_max_size=MAX_REQUEST_BODY,
    )


class _MalformedRequestsInOneLine(logging.Filter):
    """aiohttp answers a request its HTTP parser refuses (an unknown method, a URL
    over 8190 bytes, a repeated Content-Type) itself, and logs a traceback for each.
    Such a request is the client's fault, not the host's: one warning line says it."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            # Only what kind of fault: aiohttp's message goes on to quote the
            # request line or header, which may hold the key (`code=`).
            said = str(error.message).split("\n")[0].split(":")[0].strip()
            what = f"{type(error).__name__}: {said}" if said else type(error).__name__
            record.msg, record.args = "%s: %s", (record.getMessage(), what)
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def _quiet_malformed_requests() -> None:
    server_log = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, _MalformedRequestsInOneLine) for f in server_log.filters):
        server_log.addFilter(_MalformedRequestsInOneLine())


def _announce(prepared: PreparedHost, base_url: str) -> None:
    app = prepared.app
    log.info("Function app %s, route prefix %r.", app.app_dir, app.route_prefix)
    for route in prepared.routes.routes:
        function = route.function
        methods = ",".join(sorted(function.methods)) if function.methods else "*"
        log.info(
            "  %s: [%s] %s%s (auth %s)",
            function.name,
            methods,
            base_url,
            route.path_template,
            function.auth_level.value,
        )
    for timer in prepared.timers:
        log.info("  %s: timer %r", timer.function.name, timer.schedule.expression)
    if not prepared.keys.enforced:
        log.warning(
            "%s is not set: function- and admin-level routes are served without a "
            "key, as `func start` does. Set it to require the key.",
            KEY_SETTING,
        )


async def serve(prepared: PreparedHost, stop: asyncio.Event | None = None) -> None:
    """Serve until `stop` is set (by SIGINT/SIGTERM when not given)."""
    options = prepared.options
    stop = stop or _stop_on_signals()
    triggers = HttpTriggers(
        prepared.routes,
        prepared.keys,
        Invoker(),
        body_timeout=options.request_timeout,
    )
    _quiet_malformed_requests()
    # The low-level server: every path goes to the one handler, which routes itself
    # (so /notify/%0A gets the host's JSON 404). No access log: aiohttp's logs the
    # query string, which may carry `code=`.
    server = _BoundedServer(
        triggers.handle,
        request_factory=_bounded_request,
        request_timeout=options.request_timeout,
        keepalive_timeout=options.idle_timeout,
        max_line_size=MAX_HEADER_LINE,
        max_field_size=MAX_HEADER_LINE,
        max_headers=MAX_HEADERS,
        # A body left unread (answered early: 401, 408, 413) ends the connection,
        # rather than being read and dropped for up to 10 s more (aiohttp's default).
        lingering_time=0,
        access_log=None,
    )
    runner = web.ServerRunner(server, shutdown_timeout=SHUTDOWN_GRACE_SECONDS)
    await runner.setup()
    try:
        site = web.TCPSite(runner, options.host, options.port)
        try:
            await site.start()
        except OSError as error:
            raise HostError(
                f"Cannot listen on {options.host}:{options.port} ({error.strerror}); "
                "stop what uses that port or pass another --port."
            ) from error
        _announce(prepared, f"http://{options.host}:{options.port}")
        stopping = asyncio.Event()
        timer_tasks = [
            asyncio.create_task(
                timer.run(stopping), name=f"timer {timer.function.name}"
            )
            for timer in prepared.timers
        ]
        log.info("Host listening on http://%s:%d.", options.host, options.port)
        await stop.wait()
        log.info("Stopping: finishing requests in flight and running timer calls.")
        stopping.set()
        await _finish(timer_tasks)
    finally:
        await runner.cleanup()
        await _release_monitor()
    log.info("Host stopped.")


async def _release_monitor() -> None:
    """The monitor keeps its storage and mail clients for the life of the process, as
    in Azure. Here the process ends with the host: close them first, so no connection
    is left open (aiohttp warns about those)."""
    runtime = sys.modules.get("lvmbeat_monitor.runtime")
    if runtime is not None:
        await runtime.close()


async def _finish(tasks: list[asyncio.Task[None]]) -> None:
    if not tasks:
        return
    done, pending = await asyncio.wait(tasks, timeout=SHUTDOWN_GRACE_SECONDS)
    for task in pending:
        log.warning(
            "%s did not finish within %.0f s; cancelling it.",
            task.get_name(),
            SHUTDOWN_GRACE_SECONDS,
        )
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "%s ended with an error.", task.get_name(), exc_info=task.exception()
            )


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return stop


def run_host(options: HostOptions) -> None:
    """Blocking entry point for the CLI. Raises HostError when it cannot start."""
    prepared = prepare(options)
    asyncio.run(serve(prepared))
