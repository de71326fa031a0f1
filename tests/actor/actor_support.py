"""Helpers for the actor tests: loopback listeners, a manual clock, checked commands.

The broker relay the broker tests cut lives in `lvmbeat_local.dev.relay` (drills use
it too).
"""

from __future__ import annotations

import asyncio
import copy
from datetime import UTC, datetime, timedelta

from typing import Any

from clu import AMQPClient, Command
from clu.model import Model

from lvmbeat.actor import STATUS_SCHEMA


class LocalListener:
    """A TCP listener on loopback that a test can close and reopen on the same port."""

    def __init__(self) -> None:
        self.server: asyncio.Server | None = None
        self.port = 0

    async def open(self) -> None:
        self.server = await asyncio.start_server(
            self._accept, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self.server.sockets[0].getsockname()[1]

    @staticmethod
    async def _accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        writer.close()

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None


def loopback_checks(lco_port: int, outside_port: int) -> dict[str, dict[str, Any]]:
    """The actor's `network.checks`, both probing TCP listeners on loopback: the
    packaged defaults probe real addresses, which a test or a drill must never
    contact. The actor tests (fixture `make_config`) and bench/drills/ use this."""
    return {
        "lco": {"method": "tcp", "host": "127.0.0.1", "port": lco_port},
        "outside": {"method": "tcp", "host": "127.0.0.1", "port": outside_port},
    }


class ManualClock:
    """A clock that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


# The schema exactly as CLU applies it (it adds its default keywords: error, text...).
STATUS_VALIDATOR = Model("lvmbeat", copy.deepcopy(STATUS_SCHEMA)).validator


async def command(
    amqp: AMQPClient, actor: str, text: str, *, timeout: float = 10
) -> Command:
    """Send one command and wait for its end; every reply must pass the actor schema.

    CLU replaces a reply that fails the schema by an `e` reply with no final code, so
    a schema bug shows up here as a timeout or an `e`, never as a silent pass.
    """
    sent = await asyncio.wait_for(
        amqp.send_command(actor, text, await_command=False), timeout
    )
    await asyncio.wait_for(sent, timeout)
    for reply in sent.replies:
        assert reply.message_code != "e", reply.message
        STATUS_VALIDATOR.validate(reply.message)
    return sent


def final(sent: Command) -> dict[str, Any]:
    return sent.replies[-1].message
