"""A loopback TCP relay that a test or drill can cut, hold and restore.

The broker is shared (other actors, other sessions), so its connections must never be
closed for everyone (`rabbitmqctl close_all_connections`). An actor pointed at this
relay instead sees its own connection drop while everyone else stays connected. In
front of Azurite, `hold()` makes storage stop answering (requests go unanswered, the
connection stays up) until `release()`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


class BrokerProxy:
    """Relays 127.0.0.1:<port> to the broker; `drop` and `cut` break what it relays.

    - `drop()` aborts every relayed connection but keeps listening: the broker closed
      the connection, and a reconnect succeeds at once.
    - `cut()` also stops listening: the broker is gone until `open()` again (same port).
    """

    def __init__(self, target_port: int = 5672, target_host: str = "127.0.0.1") -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.port = 0
        self.server: asyncio.Server | None = None
        self.connections: set[asyncio.StreamWriter] = set()
        self.pipes: set[asyncio.Task[None]] = set()
        #: Client connections accepted and relayed so far (reconnections show here).
        self.accepted = 0
        self._flowing = asyncio.Event()
        self._flowing.set()
        #: Set when a client's bytes wait because the relay holds them.
        self.holding = asyncio.Event()
        self.held = 0

    async def open(self) -> None:
        """Listen (again) on loopback; the first call picks a free port, later ones
        reuse it so a reconnecting client finds the relay where it was."""
        self.server = await asyncio.start_server(
            self._relay, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self.server.sockets[0].getsockname()[1]

    async def _relay(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        try:
            broker_reader, broker_writer = await asyncio.open_connection(
                self.target_host, self.target_port
            )
        except OSError:
            client_writer.transport.abort()
            return
        self.accepted += 1
        self.connections |= {client_writer, broker_writer}
        pipes = {
            asyncio.create_task(self._pipe(client_reader, broker_writer, self._gate)),
            asyncio.create_task(self._pipe(broker_reader, client_writer)),
        }
        self.pipes |= pipes
        await asyncio.gather(*pipes, return_exceptions=True)
        for writer in (client_writer, broker_writer):
            writer.transport.abort()
            self.connections.discard(writer)
        self.pipes -= pipes

    @staticmethod
    async def _pipe(
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        gate: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        while data := await reader.read(65536):
            if gate is not None:
                await gate()
            writer.write(data)
            await writer.drain()
        writer.transport.abort()

    async def _gate(self) -> None:
        """Let a client's bytes through, or keep them while the relay holds."""
        if not self._flowing.is_set():
            self.held += 1
            self.holding.set()
            await self._flowing.wait()

    def hold(self) -> None:
        """Keep what clients send from now on: the target seems hung."""
        self.held = 0
        self.holding.clear()
        self._flowing.clear()

    def release(self) -> None:
        """Pass on what was held, and everything after."""
        self._flowing.set()

    async def drop(self) -> None:
        """Abort every relayed connection (both ends); keep accepting new ones."""
        for writer in list(self.connections):
            writer.transport.abort()
        self.connections.clear()
        pipes = list(self.pipes)
        for pipe in pipes:
            pipe.cancel()
        await asyncio.gather(*pipes, return_exceptions=True)
        self.pipes.clear()

    async def cut(self) -> None:
        """Stop listening and abort every relayed connection: the broker is gone."""
        if self.server is not None:
            self.server.close()
            self.server = None
        await self.drop()
