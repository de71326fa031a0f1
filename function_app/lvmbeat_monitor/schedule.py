"""How often the timer runs, from its NCRONTAB schedule.

The check needs its own period to tell "a quiet monitor that ran every period" from "a
monitor that was not running" (see decide.py), so it reads the same schedule the
Functions host runs on.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache

from croniter import croniter


# Enough runs to see the longest gap of any schedule that repeats within an hour or so;
# the schedules a heartbeat monitor uses repeat every few seconds or minutes.
_RUNS_SAMPLED = 240
_REFERENCE = datetime(2024, 1, 1, tzinfo=UTC)


@lru_cache(maxsize=16)
def schedule_period(schedule: str) -> timedelta:
    """The longest interval between two consecutive runs of a six-field NCRONTAB
    schedule (seconds first, as Azure Functions reads it).

    Raises ValueError when croniter cannot read the schedule.
    """
    try:
        runs = croniter(schedule, _REFERENCE, second_at_beginning=True)
        times = [runs.get_next(datetime) for _ in range(_RUNS_SAMPLED)]
    except (ValueError, KeyError) as error:
        raise ValueError("not a valid NCRONTAB schedule, seconds first") from error
    gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
    return max(gaps)
