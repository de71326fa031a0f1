"""Fixtures for the actor: real CLU actors and clients on the local RabbitMQ.

Every actor gets a unique name, every network check points at a loopback listener the
test opens and closes, and intervals are short so the suite stays fast.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from typing import Any

import pytest
import yaml
from actor_support import LocalListener, ManualClock, loopback_checks

from clu import AMQPClient

from lvmbeat.actor import BeatActor
from lvmbeat.config import DEFAULT_CONFIG_PATH, BeatConfig, merge, validate_config
from lvmbeat.simulator import SimulatedEcp


@pytest.fixture
async def lco_listener() -> AsyncIterator[LocalListener]:
    listener = LocalListener()
    await listener.open()
    yield listener
    await listener.close()


@pytest.fixture
async def outside_listener() -> AsyncIterator[LocalListener]:
    listener = LocalListener()
    await listener.open()
    yield listener
    await listener.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def make_config(
    unique_name: str, lco_listener: LocalListener, outside_listener: LocalListener
) -> Callable[..., BeatConfig]:
    """The packaged config with loopback checks, unique names and short intervals,
    merged with the test's own overrides."""

    def build(overrides: dict[str, Any] | None = None) -> BeatConfig:
        raw = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
        raw = merge(
            raw,
            {
                "actor": {
                    "name": f"lvmbeat_{unique_name}",
                    "host": "127.0.0.1",
                    "log_dir": None,
                },
                "ecp": {"actor": f"lvmecp_{unique_name}", "command_timeout": 2},
                "outside_monitor": {"url": None, "key": None},
                "network": {
                    "interval": 0.05,
                    # Generous, so a loaded machine never fails a loopback probe.
                    "timeout": 2,
                    "failures_to_down": 2,
                    "checks": loopback_checks(lco_listener.port, outside_listener.port),
                },
            },
        )
        return validate_config(merge(raw, overrides or {}))

    return build


@pytest.fixture
async def start_actor(rabbitmq) -> AsyncIterator[Callable[..., Any]]:
    """Start a `BeatActor` from a config; every one started is stopped at the end."""
    started: list[BeatActor] = []

    async def start(config: BeatConfig, **kwargs: Any) -> BeatActor:
        actor = BeatActor(config, **kwargs)
        started.append(actor)
        await actor.start()
        return actor

    yield start
    for actor in started:
        await actor.stop()


@dataclass
class EcpHandle:
    sim: SimulatedEcp
    arrivals: asyncio.Queue[datetime] = field(default_factory=asyncio.Queue)


@pytest.fixture
async def start_ecp(rabbitmq, unique_name: str) -> AsyncIterator[Callable[..., Any]]:
    """Start the simulated lvmecp under the name the test configs use."""
    started: list[SimulatedEcp] = []

    async def start(**kwargs: Any) -> EcpHandle:
        sim = SimulatedEcp(f"lvmecp_{unique_name}", host="127.0.0.1", **kwargs)
        handle = EcpHandle(sim)
        sim.on_heartbeat.append(lambda: handle.arrivals.put_nowait(datetime.now(UTC)))
        started.append(sim)
        await sim.start()
        return handle

    yield start
    for sim in started:
        await sim.stop()


@pytest.fixture
async def client(rabbitmq) -> AsyncIterator[AMQPClient]:
    amqp = AMQPClient(host="127.0.0.1")
    await amqp.start()
    yield amqp
    await amqp.stop()
