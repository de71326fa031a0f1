"""Says in the log, once per change, why the PLC heartbeat is (not) being written.

The emission rule is checked at each `set`, silently: a heartbeat that goes stale
simply stops emissions. Whoever reads the log at LCO must learn at once that the actor
has stopped writing the PLC heartbeat and that the dome closes in about a minute, and
when writing resumes. This watcher keeps the set of reasons that block emission
(critical heartbeats not current, blocking network checks down) and logs each change
with what it means; nothing else.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from lvmbeat.clock import Clock, utc_now
from lvmbeat.heartbeats import HeartbeatRegistry
from lvmbeat.network import NetworkMonitor
from lvmbeat.tally import Tally


# The dome's PLC closes the dome when its heartbeat variable was not written for about
# a minute (the simulated lvmecp's default `--dome-timeout`).
PLC_CLOSES_AFTER = 60.0
# The watcher looks at least this often; more often for short heartbeat timeouts.
MAX_WATCH_INTERVAL = 1.0


class EmissionWatch:
    """Logs when a critical heartbeat goes stale or a blocking check goes down (and
    back), with what that means for the PLC heartbeat and the dome."""

    def __init__(
        self,
        heartbeats: HeartbeatRegistry,
        network: NetworkMonitor,
        last_emitted: Callable[[], datetime | None],
        *,
        log: logging.Logger,
        clock: Clock = utc_now,
        plc_closes_after: float = PLC_CLOSES_AFTER,
    ):
        self.heartbeats = heartbeats
        self.network = network
        self.last_emitted = last_emitted
        self.log = log
        self.clock = clock
        self.plc_closes_after = plc_closes_after
        self.blockers: dict[str, str] = {}
        #: Logged changes, awaitable (`await watch.changes.reach(n)`).
        self.changes = Tally()

    def reasons(self) -> dict[str, str]:
        """What blocks emission now: key -> what it is, for people."""
        now = self.clock()
        found: dict[str, str] = {}
        snapshot = self.heartbeats.snapshot()
        for name in self.heartbeats.stale_critical():
            seen = snapshot[name].last_seen
            found[f"heartbeat:{name}"] = (
                f"{name} not set since the actor started"
                if seen is None
                else f"{name} last seen {(now - seen).total_seconds():.0f} s ago"
            )
        for name in self.network.blocking_down():
            found[f"network:{name}"] = f"network check {name!r} is down"
        return found

    def evaluate(self) -> None:
        """Compare with the last look and log what changed."""
        now_blocking = self.reasons()
        before = self.blockers
        if now_blocking.keys() == before.keys():
            return
        self.blockers = now_blocking
        new = [text for key, text in now_blocking.items() if key not in before]
        gone = [text for key, text in before.items() if key not in now_blocking]
        if now_blocking and not before:
            self.log.warning(
                f"{'; '.join(new)}: not writing the PLC heartbeat; {self._dome()}."
            )
        elif new:
            self.log.warning(
                f"{'; '.join(new)}: the PLC heartbeat stays unwritten; {self._dome()}."
            )
        if not now_blocking:
            self.log.warning(
                "Every critical heartbeat is current and no blocking network check is "
                "down: writing the PLC heartbeat again."
            )
        elif gone and not new:
            self.log.info(
                f"Cleared: {'; '.join(gone)}. Still not writing the PLC heartbeat: "
                f"{'; '.join(now_blocking.values())}."
            )
        self.changes.add()

    def _dome(self) -> str:
        last = self.last_emitted()
        if last is None:
            return "no PLC heartbeat was written since the actor started"
        left = self.plc_closes_after - (self.clock() - last).total_seconds()
        if left > 0:
            return f"the dome closes in about {left:.0f} s"
        return (
            f"the PLC heartbeat was last written "
            f"{(self.clock() - last).total_seconds():.0f} s ago: the dome has closed"
        )

    async def run(self) -> None:
        """Look often enough to log a stale heartbeat within a second of it."""
        interval = min(MAX_WATCH_INTERVAL, self.heartbeats.timeout.total_seconds() / 10)
        while True:
            try:
                self.evaluate()
            except Exception:  # noqa: BLE001 - the loop must never die
                self.log.exception("Emission watch failed; retrying.")
            await asyncio.sleep(interval)
