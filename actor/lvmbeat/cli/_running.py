"""Run a CLU actor or client in the foreground until SIGINT/SIGTERM, then stop it."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

from typing import Protocol


class Service(Protocol):
    async def start(self) -> object: ...

    async def stop(self) -> None: ...


async def until_signalled(make: Callable[[], Service]) -> None:
    """Build, start, wait for Ctrl-C or SIGTERM, then stop (awaiting its tasks).

    ``make`` runs inside the event loop: CLU objects bind to the loop that exists when
    they are built, so building them before `asyncio.run` breaks their stop.
    """
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    service = make()
    try:
        await service.start()
        await stopping.wait()
    finally:
        await service.stop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
