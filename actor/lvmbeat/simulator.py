"""A simulated `lvmecp`: a real CLU actor that answers `heartbeat` and models the PLC.

It answers as the real one does (`finish()` on success, `fail("Failed to set
heartbeat.")` on failure), can be made slow or failing, and closes its "dome" when no
heartbeat arrived for `dome_timeout` seconds, as the PLC does. `make run`, the tests and
the benchmarks use it in place of the enclosure.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum

from typing import Any

import click

from clu import AMQPActor, Command
from clu.parsers.click import CluGroup, help_, ping, version

from lvmbeat import __version__
from lvmbeat.clock import iso_z, utc_now
from lvmbeat.tally import Tally


class DomeState(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


SIMULATOR_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "dome": {"enum": [state.value for state in DomeState]},
        "last_heartbeat": {"type": ["string", "null"]},
        "heartbeats_received": {"type": "integer", "minimum": 0},
        "dome_timeout": {"type": "number"},
        "delay": {"type": "number"},
        "failing": {"type": "boolean"},
    },
}


@click.group(cls=CluGroup)
def ecp_parser() -> None:
    """Commands of the simulated lvmecp."""


for _builtin in (ping, version, help_):
    ecp_parser.add_command(_builtin)


@ecp_parser.command()
async def heartbeat(command: Command[SimulatedEcp]) -> None:
    """Write the PLC heartbeat (after the configured delay, or fail when told to)."""
    sim = command.actor
    sim.requests.add()
    if sim.delay > 0 and await sim.stopped_during(sim.delay):
        return  # shutting down mid-call, like a real actor: no reply
    if sim.failing:
        command.fail("Failed to set heartbeat.")
        return
    sim.record_heartbeat()
    command.finish()


@ecp_parser.command()
async def status(command: Command[SimulatedEcp]) -> None:
    """Report the dome and the PLC heartbeat."""
    command.finish(**command.actor.status())


@ecp_parser.command()
@click.option("--delay", type=float, default=None, help="Seconds each heartbeat takes.")
@click.option("--fail/--succeed", "failing", default=None, help="Fail heartbeats.")
async def mode(
    command: Command[SimulatedEcp], delay: float | None, failing: bool | None
) -> None:
    """Change how `heartbeat` behaves while running."""
    sim = command.actor
    if delay is not None:
        sim.delay = max(delay, 0.0)
    if failing is not None:
        sim.failing = failing
    command.finish(delay=sim.delay, failing=sim.failing)


@ecp_parser.command(name="open")
async def open_dome(command: Command[SimulatedEcp]) -> None:
    """Reopen the dome (an operator's action after the PLC closed it)."""
    command.actor.open_dome()
    command.finish(**command.actor.status())


class SimulatedEcp(AMQPActor):
    """The stand-in for lvmecp. The dome starts open, with the PLC timer running."""

    parser = ecp_parser

    def __init__(
        self,
        name: str = "lvmecp",
        *,
        host: str = "localhost",
        port: int = 5672,
        delay: float = 0.0,
        failing: bool = False,
        dome_timeout: float = 60.0,
        verbose: bool | int = False,
        log_dir: str | None = None,
    ):
        super().__init__(
            name=name,
            host=host,
            port=port,
            version=__version__,
            verbose=verbose,
            log_dir=log_dir,
            schema=copy.deepcopy(SIMULATOR_SCHEMA),  # CLU edits the schema it gets
        )
        self.delay = delay
        self.failing = failing
        self.dome_timeout = dome_timeout
        self.dome = DomeState.OPEN
        self.last_heartbeat: datetime | None = None
        self.heartbeats_received = 0
        #: `heartbeat` commands that arrived (before any delay), awaitable.
        self.requests = Tally()
        #: Called at each accepted heartbeat (tests and benchmarks time arrivals).
        self.on_heartbeat: list[Callable[[], None]] = []
        self._dome_closed = asyncio.Event()
        self._stopping = asyncio.Event()
        self._slow_calls: set[asyncio.Task[object]] = set()
        self._plc_timer: asyncio.TimerHandle | None = None

    async def start(self, **kwargs: Any) -> SimulatedEcp:
        await super().start(**kwargs)
        self._arm_plc_timer()
        return self

    async def stopped_during(self, seconds: float) -> bool:
        """Take ``seconds``, as a slow PLC call would; True if stopped meanwhile."""
        task = asyncio.current_task()
        assert task is not None
        self._slow_calls.add(task)
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        except TimeoutError:
            return False
        finally:
            self._slow_calls.discard(task)
        return True

    async def stop(self) -> None:
        """End slow calls without replying, stop the PLC timer, then disconnect."""
        self._stopping.set()
        await asyncio.gather(*self._slow_calls, return_exceptions=True)
        if self._plc_timer is not None:
            self._plc_timer.cancel()
        await self.timed_commands.stop()
        await super().stop()

    def _arm_plc_timer(self) -> None:
        if self._plc_timer is not None:
            self._plc_timer.cancel()
        loop = asyncio.get_running_loop()
        self._plc_timer = loop.call_later(self.dome_timeout, self._close_dome)

    def _close_dome(self) -> None:
        if self.dome is DomeState.CLOSED:
            return
        self.dome = DomeState.CLOSED
        self._dome_closed.set()
        self.log.warning(
            f"No heartbeat for {self.dome_timeout} s (last: "
            f"{iso_z(self.last_heartbeat)}): the PLC closes the dome."
        )

    def open_dome(self) -> None:
        self.dome = DomeState.OPEN
        self._dome_closed.clear()
        self._arm_plc_timer()

    def record_heartbeat(self) -> None:
        self.last_heartbeat = utc_now()
        self.heartbeats_received += 1
        if self.dome is DomeState.OPEN:
            self._arm_plc_timer()
        for callback in self.on_heartbeat:
            callback()

    async def wait_dome_closed(self) -> None:
        await self._dome_closed.wait()

    def status(self) -> dict[str, Any]:
        return {
            "dome": self.dome.value,
            "last_heartbeat": iso_z(self.last_heartbeat),
            "heartbeats_received": self.heartbeats_received,
            "dome_timeout": self.dome_timeout,
            "delay": self.delay,
            "failing": self.failing,
        }
