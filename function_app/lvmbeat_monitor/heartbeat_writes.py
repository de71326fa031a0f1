"""Heartbeats that arrive while one is being written share the next write.

A group commit, as databases do for their log: at most one heartbeat write is in
flight in this process. A heartbeat that arrives meanwhile waits for the next write,
which starts after it arrived and so stores a `last_seen` no earlier than its arrival;
every heartbeat that waited is answered by that one write, or gets its error. So a 200
still means "stored, at this time or later", a caller alone (the actor, every 15 s)
still costs one write per heartbeat, and a burst of N concurrent heartbeats costs two
writes instead of N, none of them waiting behind more than two. Without it, the burst
queued N storage round trips (and their CPU) behind each other: measured in
bench/monitor_vs_first.py, docs/benchmarks.md.

Each heartbeat may carry the actor's report; the shared write stores the report of the
heartbeat that arrived last, as a write per heartbeat would have left it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime

from typing import Generic, TypeVar


Payload = TypeVar("Payload")


class HeartbeatWrites(Generic[Payload]):
    """Record heartbeats through `write(at, payload)`, one write in flight at a time."""

    def __init__(
        self,
        write: Callable[[datetime, Payload | None], Awaitable[None]],
        now: Callable[[], datetime],
    ) -> None:
        self._write = write
        self._now = now
        self._busy = False
        # The write that heartbeats arriving now will share (not started yet), and
        # the payload of the latest of them.
        self._next: asyncio.Future[datetime] | None = None
        self._next_payload: Payload | None = None
        self._running: set[asyncio.Task[None]] = set()

    async def record(self, payload: Payload | None = None) -> datetime:
        """Return once a write that started after this call has succeeded: the time
        it stored. Raises what that write raised."""
        if self._busy:
            if self._next is None:
                self._next = asyncio.get_running_loop().create_future()
            self._next_payload = payload  # the latest arrival's report wins
            # shield: a caller that goes away must not cancel the others' write.
            return await asyncio.shield(self._next)
        self._busy = True
        try:
            at = self._now()
            await self._write(at, payload)
            return at
        finally:
            self._hand_over()

    def _hand_over(self) -> None:
        """Start the write the waiting heartbeats share, or go idle."""
        waiting, self._next = self._next, None
        payload, self._next_payload = self._next_payload, None
        if waiting is None:
            self._busy = False
            return
        task = asyncio.get_running_loop().create_task(
            self._write_for(waiting, payload)
        )
        self._running.add(task)  # a reference, so the task is not collected
        task.add_done_callback(self._running.discard)

    async def _write_for(
        self, waiting: asyncio.Future[datetime], payload: Payload | None
    ) -> None:
        try:
            at = self._now()
            await self._write(at, payload)
        except asyncio.CancelledError:
            waiting.cancel()
            raise
        except Exception as error:  # noqa: BLE001 - handed to every waiting caller
            waiting.set_exception(error)
        else:
            waiting.set_result(at)
        finally:
            self._hand_over()
