"""Broker trouble: a connection dropped under the actor, a broker missing at start."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
from actor_support import command, final

from lvmbeat.actor import BeatActor
from lvmbeat.tally import Tally
from lvmbeat_local.dev.ports import free_port
from lvmbeat_local.dev.relay import BrokerProxy


@pytest.fixture
async def broker_proxy(rabbitmq) -> AsyncIterator[BrokerProxy]:
    proxy = BrokerProxy(rabbitmq["port"])
    yield proxy
    await proxy.cut()


class LogLine(logging.Handler):
    """Sets an event when a log record containing ``text`` arrives."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        self.seen = asyncio.Event()
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.count += 1
            self.seen.set()


async def test_the_actor_survives_its_broker_connection_closing_and_resumes_emitting(
    make_config, start_actor, start_ecp, client, broker_proxy
):
    await broker_proxy.open()
    ecp = await start_ecp()
    config = make_config(
        {
            "actor": {"port": broker_proxy.port},
            "ecp": {"cutoff": 0, "command_timeout": 1},
        }
    )
    actor = await start_actor(config)
    await command(client, actor.name, "set overwatcher")
    await actor.emitter.attempts.reach(1)

    await broker_proxy.cut()
    # A set cannot arrive now; an emission started by one must not wedge the emitter.
    actor.consider_emission()
    await actor.emitter.attempts.reach(2)
    assert actor.emitter.state.value in ("timeout", "failed")
    assert not actor.running_commands  # nothing left behind by the cut-off publish

    await broker_proxy.open()
    await actor.reconnections.reach(1)
    await command(client, actor.name, "set overwatcher")
    await actor.emitter.attempts.reach(3)
    status = final(await command(client, actor.name, "status"))

    assert status["ecp"]["state"] == "ok"
    assert ecp.sim.heartbeats_received == 2


async def test_a_broker_missing_at_start_is_retried_with_a_clear_log_line(
    make_config, start_ecp, client, broker_proxy
):
    broker_proxy.port = free_port()  # nothing listens there yet
    actor = BeatActor(
        make_config({"actor": {"port": broker_proxy.port}}), broker_retry_interval=0.05
    )
    retry_line = LogLine("RabbitMQ is not reachable at 127.0.0.1")
    actor.log.addHandler(retry_line)
    starting = asyncio.create_task(actor.start())
    try:
        await retry_line.seen.wait()
        await broker_proxy.open()
        await asyncio.wait_for(starting, timeout=10)
        status = final(await command(client, actor.name, "status"))
    finally:
        starting.cancel()
        await asyncio.gather(starting, return_exceptions=True)
        await actor.stop()
        actor.log.removeHandler(retry_line)

    assert retry_line.count >= 1
    assert status["network"]["lco"] is True


async def test_a_broker_outage_is_logged_once_however_many_reconnections_fail(
    make_config, start_actor, broker_proxy
):
    await broker_proxy.open()
    actor = await start_actor(make_config({"actor": {"port": broker_proxy.port}}))
    connection = actor.connection.connection
    connection.reconnect_interval = 0.05  # aio-pika's 5 s, shortened for the test
    closes = Tally()  # aio-pika reports the drop and every failed attempt here
    connection.close_callbacks.add(lambda *_: closes.add())
    lost = LogLine("Lost the RabbitMQ connection")
    actor.log.addHandler(lost)
    try:
        await broker_proxy.cut()
        await closes.reach(4)  # the drop and three failed reconnection attempts
        during_outage = lost.count
        await broker_proxy.open()
        await actor.reconnections.reach(1)
        await broker_proxy.drop()  # a second, separate loss
        await actor.reconnections.reach(2)
    finally:
        actor.log.removeHandler(lost)

    assert during_outage == 1
    assert lost.count == 2
