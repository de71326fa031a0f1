"""Time at the edges: aware UTC datetimes inside, ISO 8601 `...Z` strings outside."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime


#: Anything that tells the current time; tests inject their own instead of patching.
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso_z(moment: datetime | None) -> str | None:
    """`2024-12-26T16:32:25Z` (seconds precision), or None when there is no time."""
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
