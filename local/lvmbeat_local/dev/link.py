"""LCO's internet link for `make run`: a loopback relay that can be cut and restored.

At LCO, losing the internet does not stop the actor: its calls to the monitor fail,
its `outside` check goes down, it stops writing the PLC heartbeat and the dome closes.
`make run` plays that by sending both the actor's monitor calls and its `outside`
probe through this relay, and cutting it (`offline`) while the actor keeps running.
The relay is `BrokerProxy` (a plain TCP relay) on an event loop of its own thread, so
the driver's synchronous code can cut and open it.
"""

from __future__ import annotations

import asyncio
import threading

from lvmbeat_local.dev.relay import BrokerProxy


class InternetLink:
    """127.0.0.1:<port> relayed to a target port until `cut()`; `restore()` reopens
    it on the same port."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self._relay = BrokerProxy(target_port=target_port, target_host=target_host)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="lco-internet-link", daemon=True
        )
        self.up = False

    @property
    def port(self) -> int:
        return self._relay.port

    def start(self) -> InternetLink:
        self._thread.start()
        self._call(self._relay.open())
        self.up = True
        return self

    def cut(self) -> None:
        """Refuse new connections and abort the open ones: the link is down."""
        if self.up:
            self._call(self._relay.cut())
            self.up = False

    def restore(self) -> None:
        if not self.up:
            self._call(self._relay.open())
            self.up = True

    def stop(self) -> None:
        self.cut()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def _call(self, coroutine) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)
