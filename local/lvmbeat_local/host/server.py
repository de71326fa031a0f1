"""Start the host: settings, app, HTTP server, timers; stop it cleanly on a signal.

On SIGINT or SIGTERM the host stops accepting requests, lets requests in flight and the
running timer call finish, then exits; the worker threads are joined, so nothing is left
behind.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from lvmbeat_local.host.errors import HostError
from lvmbeat_local.host.http_trigger import HttpTriggers
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

# Azure Functions accepts request bodies up to 100 MB.
MAX_REQUEST_BODY = 100 * 1024 * 1024
# How long a stop waits for requests in flight and a running timer call.
SHUTDOWN_GRACE_SECONDS = 60.0


@dataclass(frozen=True)
class HostOptions:
    host: str = "127.0.0.1"
    port: int = 7071
    app_dir: Path | None = None


@dataclass
class PreparedHost:
    """Everything checked before the first socket is opened."""

    options: HostOptions
    app: LoadedApp
    routes: RouteTable
    keys: KeyCheck
    timers: list[TimerRunner]
    executor: ThreadPoolExecutor


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
    executor = ThreadPoolExecutor(thread_name_prefix="function")
    invoker = Invoker(executor)
    return PreparedHost(
        options=options,
        app=app,
        routes=RouteTable(app.http_functions, app.route_prefix),
        keys=KeyCheck(os.environ.get(KEY_SETTING) or None),
        timers=[TimerRunner(t, invoker) for t in app.timer_functions],
        executor=executor,
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
    invoker = Invoker(prepared.executor)
    triggers = HttpTriggers(prepared.routes, prepared.keys, invoker)
    _quiet_malformed_requests()
    web_app = web.Application(client_max_size=MAX_REQUEST_BODY)
    # Every path: `[\s\S]` because `.` stops at a newline, and /notify/%0A must get
    # the host's JSON 404, not aiohttp's plain-text one.
    web_app.router.add_route("*", r"/{path:[\s\S]*}", triggers.handle)
    # No access log: aiohttp's logs the query string, which may carry `code=`.
    runner = web.AppRunner(
        web_app, access_log=None, shutdown_timeout=SHUTDOWN_GRACE_SECONDS
    )
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
        prepared.executor.shutdown(wait=True)
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
