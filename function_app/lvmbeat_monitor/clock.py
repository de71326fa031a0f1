"""Time, injected: the monitor's logic never asks the system clock itself.

Inside, times are timezone-aware UTC datetimes; at the edges (JSON, emails) they are
ISO 8601 strings with seconds precision and a `Z`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from typing import Any, Protocol


class Clock(Protocol):
    """Something that knows what time it is (UTC)."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


def iso_z(moment: datetime | None) -> str | None:
    """`2024-12-26T16:32:25Z`, or None for None."""
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def to_stored(moment: datetime | None) -> str | None:
    """A time as Table Storage rows keep it (full ISO 8601 with offset), or None."""
    return moment.isoformat() if moment is not None else None


def from_stored(value: Any) -> datetime | None:
    """A time read back from a row (an ISO string, or a datetime the SDK decoded)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


def human_duration(seconds: float) -> str:
    """`1 h 5 min 3 s`: how long an outage lasted, for people."""
    total = max(0, round(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days} d"] if days else []
    if hours:
        parts.append(f"{hours} h")
    if minutes:
        parts.append(f"{minutes} min")
    if secs or not parts:
        parts.append(f"{secs} s")
    return " ".join(parts)
