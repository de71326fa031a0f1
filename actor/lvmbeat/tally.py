"""A counter that can be awaited: tests and tools wait on events, never on sleeps."""

from __future__ import annotations

import asyncio


class Tally:
    """Counts finished things (probe rounds, emissions, calls); `reach` awaits one."""

    def __init__(self) -> None:
        self.count = 0
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []

    def add(self) -> None:
        """Count one more and wake whoever waited for this count. Never blocks."""
        self.count += 1
        for target, waiter in self._waiters:
            if self.count >= target and not waiter.done():
                waiter.set_result(None)
        self._waiters = [(t, w) for t, w in self._waiters if not w.done()]

    async def reach(self, count: int) -> None:
        """Return once at least ``count`` have been counted in total."""
        if self.count >= count:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append((count, waiter))
        try:
            await waiter
        finally:
            if not waiter.done():
                waiter.cancel()
