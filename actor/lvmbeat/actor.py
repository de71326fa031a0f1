"""`BeatActor`: the CLU actor that wires heartbeats, network probes, emitter and pinger.

Wiring only. The rule lives in `emitter.decide`, the bookkeeping in `heartbeats`, the
probes in `network`, the monitor calls in `outside`. Every reply is validated against
`STATUS_SCHEMA`: CLU turns a reply that fails its schema into an `e` reply, which is not
a final code, so the caller would wait forever.
"""

from __future__ import annotations

import asyncio
import copy
import logging

from typing import Any

import click

from clu import AMQPActor, Command
from clu.exceptions import CluError
from clu.parsers.click import CluGroup, get_schema, help_, keyword, ping, version

from lvmbeat import __version__
from lvmbeat.clock import Clock, iso_z, utc_now
from lvmbeat.config import BeatConfig, CheckMethod
from lvmbeat.emitter import Decision, EmissionState, Emitter, send_bounded
from lvmbeat.heartbeats import HeartbeatRegistry, UnknownHeartbeat
from lvmbeat.network import NetworkMonitor
from lvmbeat.outside import OutsidePinger
from lvmbeat.tally import Tally
from lvmbeat.watch import EmissionWatch


# Seconds between attempts when the broker is not there at start.
BROKER_RETRY_INTERVAL = 5.0

_ISO = {
    "oneOf": [
        {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"},
        {"type": "null"},
    ]
}
_TEXT_OR_NULL = {"type": ["string", "null"]}

STATUS_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "heartbeats": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "properties": {
                    "current": {"type": "boolean"},
                    "last_seen": _ISO,
                    "critical": {"type": "boolean"},
                },
                "required": ["current", "last_seen"],
                "additionalProperties": False,
            },
        },
        "last_emitted_ecp": _ISO,
        "last_emitted_outside": _ISO,
        "network": {
            "type": "object",
            "properties": {
                "lco": {"type": "boolean"},
                "outside": {"type": "boolean"},
                "internet": {"type": "boolean"},
            },
            "required": ["lco", "outside", "internet"],
            "additionalProperties": {"type": "boolean"},
        },
        "ecp": {
            "type": "object",
            "properties": {
                "target": {"type": "string"},
                "state": {"enum": [state.value for state in EmissionState]},
                "in_flight": {"type": "boolean"},
                "last_attempt": _ISO,
                "last_error": _TEXT_OR_NULL,
            },
            "required": ["target", "state", "in_flight", "last_attempt", "last_error"],
            "additionalProperties": False,
        },
        "outside_monitor": {
            "type": "object",
            "properties": {
                "url": _TEXT_OR_NULL,
                "reachable": {"type": ["boolean", "null"]},
                "last_error": _TEXT_OR_NULL,
            },
            "required": ["url", "reachable", "last_error"],
            "additionalProperties": False,
        },
        "network_checks": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "properties": {
                    "up": {"type": "boolean"},
                    "method": {"enum": [method.value for method in CheckMethod]},
                    "target": {"type": "string"},
                    "blocks_emission": {"type": "boolean"},
                    "consecutive_failures": {"type": "integer", "minimum": 0},
                    "last_error": _TEXT_OR_NULL,
                },
                "required": ["up", "method", "target", "blocks_emission"],
                "additionalProperties": False,
            },
        },
    },
}


@click.group(cls=CluGroup)
def beat_parser() -> None:
    """Commands of the lvmbeat actor."""


for _builtin in (ping, version, help_, get_schema, keyword):
    beat_parser.add_command(_builtin)


@beat_parser.command(name="set")
@click.argument("heartbeat", type=str)
async def set_(command: Command[BeatActor], heartbeat: str) -> None:
    """Record HEARTBEAT as seen now. Replies at once; never waits on lvmecp."""
    actor = command.actor
    try:
        actor.heartbeats.set(heartbeat)
    except UnknownHeartbeat as error:
        command.fail(error=str(error))
        return
    actor.consider_emission()
    command.finish()


@beat_parser.command()
async def status(command: Command[BeatActor]) -> None:
    """Report heartbeats, last emissions and network state."""
    command.finish(**command.actor.status())


class ActorStartError(RuntimeError):
    """The actor cannot start for a reason that retrying will not fix."""


class BeatActor(AMQPActor):
    """The on-site lvmbeat actor."""

    parser = beat_parser

    def __init__(
        self,
        config: BeatConfig,
        *,
        verbose: bool | int = False,
        clock: Clock = utc_now,
        broker_retry_interval: float = BROKER_RETRY_INTERVAL,
    ):
        super().__init__(
            name=config.actor.name,
            host=config.actor.host,
            port=config.actor.port,
            version=__version__,
            log_dir=config.actor.log_dir,
            verbose=verbose,
            schema=copy.deepcopy(STATUS_SCHEMA),  # CLU edits the schema it gets
            config=config.model_dump(mode="json", exclude={"outside_monitor": {"key"}}),
        )
        self.beat_config = config
        self.broker_retry_interval = broker_retry_interval
        self.heartbeats = HeartbeatRegistry(
            config.heartbeats, timeout=config.timeout, clock=clock
        )
        self.network = NetworkMonitor(config.network, log=self.log)
        self.outside = OutsidePinger(
            config.outside_monitor, log=self.log, clock=clock, report=self.report
        )
        self.emitter = Emitter(
            config.ecp, send=self._send_ecp, log=self.log, clock=clock
        )
        self.watch = EmissionWatch(
            self.heartbeats,
            self.network,
            lambda: self.emitter.last_emitted,
            log=self.log,
            clock=clock,
        )
        self._background: list[asyncio.Task[None]] = []
        #: Broker reconnections after a drop, awaitable (tests and tools).
        self.reconnections = Tally()
        # Whether the broker connection is up, so an outage is logged once however
        # many reconnection attempts fail during it.
        self._broker_connected = False

    async def _send_ecp(self) -> None:
        ecp = self.beat_config.ecp
        await send_bounded(self, ecp.actor, ecp.command, ecp.command_timeout)

    def consider_emission(self) -> None:
        decision = self.emitter.consider(
            critical_current=self.heartbeats.critical_current(),
            blocking_down=self.network.blocking_down(),
        )
        if decision is Decision.STALE:
            detail = f" ({', '.join(self.heartbeats.stale_critical())})"
        elif decision is Decision.NETWORK_DOWN:
            detail = f" ({', '.join(self.network.blocking_down())})"
        else:
            detail = ""
        self.log.debug(f"Emission decision after set: {decision.value}{detail}.")
        self.watch.evaluate()

    def report(self) -> dict[str, Any]:
        """LCO's last word, sent with every call to the external monitor (the body of
        `POST /heartbeat`): what the people alerted need when LCO goes dark. Only
        bools, times, the version and heartbeat names: no host, address or secret."""
        return {
            "version": __version__,
            "critical_current": self.heartbeats.critical_current(),
            "stale": self.heartbeats.stale_critical(),
            "last_emitted_ecp": iso_z(self.emitter.last_emitted),
            "network": {name: self.network.is_up(name) for name in ("lco", "outside")},
        }

    def status(self) -> dict[str, Any]:
        """The `status` keywords (contract shape plus detail keywords)."""
        now_current = self.heartbeats.current()
        network = {name: self.network.is_up(name) for name in self.network.states}
        network["internet"] = network["outside"]
        config = self.beat_config.network
        return {
            "heartbeats": {
                name: {
                    "current": now_current[name],
                    "last_seen": iso_z(beat.last_seen),
                    "critical": beat.critical,
                }
                for name, beat in self.heartbeats.snapshot().items()
            },
            "last_emitted_ecp": iso_z(self.emitter.last_emitted),
            "last_emitted_outside": iso_z(self.outside.last_emitted),
            "network": network,
            "ecp": {
                "target": self.emitter.target,
                "state": self.emitter.state.value,
                "in_flight": self.emitter.in_flight,
                "last_attempt": iso_z(self.emitter.last_attempt),
                "last_error": self.emitter.last_error,
            },
            "outside_monitor": {
                "url": self.outside.display_url,
                "reachable": self.outside.reachable,
                "last_error": self.outside.last_error,
            },
            "network_checks": {
                name: {
                    "up": state.up,
                    "method": config.checks[name].method.value,
                    "target": config.checks[name].target,
                    "blocks_emission": name in config.block_emission,
                    "consecutive_failures": state.consecutive_failures,
                    "last_error": state.last_error,
                }
                for name, state in self.network.states.items()
            },
        }

    async def start(self, **kwargs: Any) -> BeatActor:
        """Connect (retrying while the broker is not up yet), then start the loops."""
        actor = self.beat_config.actor
        while True:
            try:
                await super().start(**kwargs)
                break
            except CluError as error:
                # CLU's exclusive commands queue is held by another actor of this name.
                raise ActorStartError(
                    f"Cannot start actor {self.name!r}: {error} Stop the other "
                    "instance or give this one another actor.name."
                ) from error
            except ConnectionError as error:
                self.log.error(
                    f"RabbitMQ is not reachable at {actor.host}:{actor.port} "
                    f"({error}); "
                    f"retrying in {self.broker_retry_interval} s. Start the broker or "
                    "fix actor.host/actor.port."
                )
                await asyncio.sleep(self.broker_retry_interval)
        connection = self.connection.connection
        assert connection is not None
        # aio-pika retries a dropped connection every 5 s and restores the queues;
        # say so in the log, once per drop and once per return.
        self._broker_connected = True
        connection.close_callbacks.add(self._on_broker_lost)
        connection.reconnect_callbacks.add(self._on_broker_back)
        self.log.info(
            f"Actor {self.name!r} connected to {actor.host}:{actor.port}; heartbeats: "
            f"{', '.join(self.heartbeats.names)}; emits {self.emitter.target}."
        )
        self._background = [
            asyncio.create_task(self.network.run(), name="lvmbeat network probes"),
            asyncio.create_task(self.outside.run(), name="lvmbeat outside monitor"),
            asyncio.create_task(self.watch.run(), name="lvmbeat emission watch"),
        ]
        return self

    def _on_broker_lost(self, _connection: Any, error: BaseException | None) -> None:
        if error is None or isinstance(error, asyncio.CancelledError):
            return  # our own close at stop
        actor = self.beat_config.actor
        if not self._broker_connected:
            # aio-pika calls the close callbacks again at every failed reconnection
            # attempt; the outage was logged when it began.
            self.log.debug(
                f"Reconnection to RabbitMQ at {actor.host}:{actor.port} failed "
                f"({error!r}); retrying."
            )
            return
        self._broker_connected = False
        self.log.error(
            f"Lost the RabbitMQ connection to {actor.host}:{actor.port} ({error!r}); "
            "reconnecting every 5 s. Emissions fail fast meanwhile."
        )

    def _on_broker_back(self, _connection: Any) -> None:
        self._broker_connected = True
        self.log.warning("RabbitMQ connection restored; commands flow again.")
        self.reconnections.add()

    async def stop(self) -> None:
        """Cancel and await every background task, then close the broker connection."""
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        self._background = []
        await self.emitter.stop()
        await self.timed_commands.stop()
        await super().stop()


def actor_log_level(debug: bool) -> int | bool:
    """Terminal logging for `--debug`; otherwise the file log only."""
    return logging.DEBUG if debug else False
