"""A simulated `lvmecp`: a real CLU actor that answers `heartbeat` and models the PLC.

It answers as the real one does (`finish()` on success, `fail("Failed to set
heartbeat.")` on failure), can be made slow or failing, and closes its "dome" when no
heartbeat arrived for `dome_timeout` seconds, as the PLC does. Like the PLC, it does
not reopen the dome by itself when heartbeats resume: an operator does (`open`).
Like the real lvmecp, it can poll `lvmbeat status` (every 30 s, 5 s limit) and set the
PLC's network-failure flag while lvmbeat reports `lco` or `internet` down. Its log
says each of these, one line per PLC heartbeat written, in words. `make run`, the
tests and the benchmarks use it in place of the enclosure.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import uuid
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
        "network_failure": {"type": "boolean"},
    },
}

# How the simulator's log starts the line it writes for each PLC heartbeat (the
# drills read arrivals from it).
HEARTBEAT_WRITTEN = "PLC heartbeat written"

# The real lvmecp polls `lvmbeat status` this often, with this limit (CONTRACT.md).
NETWORK_POLL_INTERVAL = 30.0
NETWORK_POLL_TIMEOUT = 5.0


class _QuietCommandLog(logging.Filter):
    """Drops CLU's "New command received" lines from the terminal: one PLC heartbeat
    written says more than the command that asked for it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("New command received")


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
        beat_actor: str | None = None,
        poll_interval: float = NETWORK_POLL_INTERVAL,
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
        # The actor whose `status` sets the network-failure flag (None: no polling).
        self.beat_actor = beat_actor
        self.poll_interval = poll_interval
        self.network_failure = False
        #: Finished polls of `<beat_actor> status`, awaitable.
        self.polls = Tally()
        self._poll_answered: bool | None = None
        self._poller: asyncio.Task[None] | None = None
        if self.log.sh is not None:
            self.log.sh.addFilter(_QuietCommandLog())
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
        if self.beat_actor is not None:
            self._poller = asyncio.create_task(self._poll_network())
        self.log.info(
            f"Dome open; the PLC closes it after {self.dome_timeout:g} s without a "
            "heartbeat."
        )
        return self

    async def _poll_network(self) -> None:
        """Poll `<beat_actor> status` as lvmecp does and keep the network flag."""
        assert self.beat_actor is not None
        while True:
            # Sleep first: lvmbeat starts after lvmecp, and a poll at once would
            # only report that it is not there yet.
            await asyncio.sleep(self.poll_interval)
            try:
                await self.poll_network_once()
            except Exception:  # noqa: BLE001 - the loop must never die
                self.log.exception(f"Polling {self.beat_actor} status failed.")

    async def poll_network_once(self) -> None:
        """One poll; the flag changes only on an answer, each change logged once."""
        assert self.beat_actor is not None
        network = await self._beat_network()
        answered = network is not None
        if answered != self._poll_answered and not answered:
            self.log.warning(
                f"{self.beat_actor} status did not answer within "
                f"{NETWORK_POLL_TIMEOUT:g} s; the PLC's network-failure flag stays "
                f"{'set' if self.network_failure else 'clear'}."
            )
        self._poll_answered = answered
        if network is not None:
            failure = not (network.get("lco", True) and network.get("internet", True))
            if failure != self.network_failure:
                self.network_failure = failure
                words = ", ".join(
                    f"{k}: {'up' if v else 'down'}" for k, v in network.items()
                )
                if failure:
                    self.log.warning(
                        f"{self.beat_actor} reports the network down ({words}): the "
                        "PLC's network-failure flag is set."
                    )
                else:
                    self.log.warning(
                        f"{self.beat_actor} reports the network up again: the PLC's "
                        "network-failure flag is cleared."
                    )
        self.polls.add()

    async def _beat_network(self) -> dict[str, bool] | None:
        """The `network` keyword of `<beat_actor> status`, or None without an answer."""
        assert self.beat_actor is not None
        command_id = str(uuid.uuid4())
        try:
            command = await asyncio.wait_for(
                self.send_command(
                    self.beat_actor,
                    "status",
                    command_id=command_id,
                    await_command=False,
                ),
                timeout=NETWORK_POLL_TIMEOUT,
            )
            await asyncio.wait_for(command, timeout=NETWORK_POLL_TIMEOUT)
        except TimeoutError:
            return None
        finally:
            self.running_commands.pop(command_id, None)
        if not command.status.did_succeed:
            return None
        for reply in command.replies:
            if isinstance(reply.message, dict) and "network" in reply.message:
                return {k: bool(v) for k, v in reply.message["network"].items()}
        return None

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
        if self._poller is not None:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)
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
        self.log.warning(
            f"Dome reopened by command; the PLC closes it again after "
            f"{self.dome_timeout:g} s without a heartbeat."
        )

    def record_heartbeat(self) -> None:
        self.last_heartbeat = utc_now()
        self.heartbeats_received += 1
        if self.dome is DomeState.OPEN:
            self._arm_plc_timer()
            self.log.info(f"{HEARTBEAT_WRITTEN}; the dome stays open.")
        else:
            self.log.info(
                f"{HEARTBEAT_WRITTEN}; the dome stays closed until reopened "
                f"(`lvmbeat send {self.name} open`)."
            )
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
            "network_failure": self.network_failure,
        }
