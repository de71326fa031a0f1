"""Which heartbeats exist, when each was last set, whether critical ones are current.

Pure bookkeeping with an injected clock: no I/O, so every edge is a one-line test.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from lvmbeat.clock import Clock, utc_now
from lvmbeat.config import HeartbeatConfig


class UnknownHeartbeat(KeyError):
    """`set` named a heartbeat that is not configured."""

    def __init__(self, name: str, known: Iterable[str]):
        self.name = name
        self.known = sorted(known)
        super().__init__(name)

    def __str__(self) -> str:
        return (
            f"Unknown heartbeat {self.name!r}; the configured heartbeats are "
            f"{', '.join(self.known)}. Add it under `heartbeats` in the config "
            "to track it."
        )


@dataclass
class Heartbeat:
    name: str
    critical: bool
    last_seen: datetime | None = None

    def is_current(self, now: datetime, timeout: timedelta) -> bool:
        return self.last_seen is not None and now - self.last_seen < timeout


class HeartbeatRegistry:
    """The configured heartbeats and when each was last set."""

    def __init__(
        self,
        heartbeats: Iterable[HeartbeatConfig],
        *,
        timeout: float,
        clock: Clock = utc_now,
    ):
        self._beats = {
            beat.name: Heartbeat(beat.name, beat.critical) for beat in heartbeats
        }
        self.timeout = timedelta(seconds=timeout)
        self.clock = clock

    @property
    def names(self) -> list[str]:
        return list(self._beats)

    def set(self, name: str) -> datetime:
        """Record ``name`` as seen now; raises `UnknownHeartbeat` for other names."""
        try:
            beat = self._beats[name]
        except KeyError:
            raise UnknownHeartbeat(name, self._beats) from None
        beat.last_seen = self.clock()
        return beat.last_seen

    def critical_current(self) -> bool:
        """True when every critical heartbeat was set less than `timeout` ago."""
        now = self.clock()
        return all(
            beat.is_current(now, self.timeout)
            for beat in self._beats.values()
            if beat.critical
        )

    def stale_critical(self) -> list[str]:
        now = self.clock()
        return [
            beat.name
            for beat in self._beats.values()
            if beat.critical and not beat.is_current(now, self.timeout)
        ]

    def snapshot(self) -> dict[str, Heartbeat]:
        """A copy of every heartbeat, for status replies."""
        return {
            name: Heartbeat(beat.name, beat.critical, beat.last_seen)
            for name, beat in self._beats.items()
        }

    def current(self) -> dict[str, bool]:
        now = self.clock()
        return {
            name: beat.is_current(now, self.timeout)
            for name, beat in self._beats.items()
        }
