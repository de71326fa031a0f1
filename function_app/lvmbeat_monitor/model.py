"""The monitor's state, as plain immutable dataclasses (no storage, no HTTP).

Two facts live apart on purpose: the heartbeat's `last_seen` (written by `/heartbeat`
without reading anything) and the `MonitorState` below (changed only by conditional
updates). A heartbeat can therefore never be lost by a check that updates the state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class NoticeKind(StrEnum):
    """The two notifications people get."""

    DOWN = "down"  # "LCO internet is down"
    UP = "up"  # "RESOLVED: LCO internet is up"


@dataclass(frozen=True)
class Notice:
    """One notification to deliver, with everything its email says.

    It is decided once and stored, so a retry sends the same facts.
    """

    id: str
    kind: NoticeKind
    decided_at: datetime
    # The last heartbeat before the outage (None: never seen since the monitor started).
    last_seen: datetime | None
    # Where the silence was counted from when the outage was declared.
    silent_since: datetime | None
    # For UP: the latest heartbeat the check saw when it noticed the recovery.
    back_at: datetime | None = None
    # Sent by an operator through /notify rather than decided by a check.
    forced: bool = False


@dataclass(frozen=True)
class Pending:
    """A notice that has not been delivered yet, and who is delivering it.

    `claimed_by` / `claimed_until` are a lease: a checker that crashed mid-send lets
    another take over after the lease, which may repeat the email but never loses it.
    """

    notice: Notice
    claimed_by: str | None = None
    claimed_until: datetime | None = None
    attempts: int = 0

    def claimed_at(self, now: datetime) -> bool:
        return self.claimed_until is not None and now < self.claimed_until


@dataclass(frozen=True)
class MonitorState:
    """Everything the checks decide on, besides the heartbeat itself."""

    started_at: datetime  # the monitor's first check, ever
    enabled: bool = True
    disabled_until: datetime | None = None  # a timed disable ends by itself
    enabled_at: datetime | None = None  # the last time monitoring (re)started
    resumed_at: datetime | None = None  # the monitor's own return after a gap
    last_check: datetime | None = None  # the last check that watched a silence
    active: bool = False  # an outage has been declared
    outage_last_seen: datetime | None = None  # last heartbeat before that outage
    outage_silent_since: datetime | None = None
    pending: Pending | None = None
    last_error: str | None = None
    last_sent_kind: NoticeKind | None = None
    last_sent_at: datetime | None = None

    def is_enabled(self, now: datetime) -> bool:
        """Enabled, or a timed disable that has run out."""
        return self.enabled or (
            self.disabled_until is not None and now >= self.disabled_until
        )
