"""Timer triggers on their NCRONTAB schedule (six fields, seconds first, UTC).

A run never overlaps the previous one: the loop awaits each run before it looks at the
clock again. Occurrences missed meanwhile (a run that overran, a busy or suspended
host) are not replayed one by one: the next run starts at once, once, with
`past_due=True`, as Azure does.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from azure.functions.timer import TimerRequest  # func.TimerRequest is the ABC
from croniter import croniter

from lvmbeat_local.host.errors import ScheduleError
from lvmbeat_local.host.loader import TimerFunction
from lvmbeat_local.host.settings import resolve_references


log = logging.getLogger("lvmbeat_local.host")

# A run that starts later than this after its occurrence is past due. Well above the
# event loop's wake-up jitter, well below any schedule worth running.
PAST_DUE_AFTER = timedelta(seconds=1)


class NcrontabSchedule:
    """An NCRONTAB expression, seconds first:
    `{second} {minute} {hour} {day} {month} {day-of-week}`."""

    def __init__(self, expression: str, *, what: str) -> None:
        fields = expression.split()
        if len(fields) != 6 or not croniter.is_valid(
            expression, second_at_beginning=True
        ):
            raise ScheduleError(
                f"{what}: schedule {expression!r} is not a six-field NCRONTAB "
                "expression (seconds first), e.g. '*/30 * * * * *'."
            )
        self.expression = expression

    def after(self, moment: datetime) -> datetime:
        """The first occurrence strictly after `moment`."""
        return croniter(self.expression, moment, second_at_beginning=True).get_next(
            datetime
        )

    def latest_until(self, moment: datetime, since: datetime) -> datetime:
        """The last occurrence at or before `moment`, not earlier than `since`."""
        latest = croniter(
            self.expression,
            moment + timedelta(microseconds=1),
            second_at_beginning=True,
        ).get_prev(datetime)
        return max(latest, since)


def utc_now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


class TimerRunner:
    """Runs one timer function until `stopping` is set; the running call finishes."""

    def __init__(
        self,
        function: TimerFunction,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.function = function
        self.clock = clock
        expression = resolve_references(
            function.schedule, what=f"Timer {function.name}"
        )
        self.schedule = NcrontabSchedule(expression, what=f"Timer {function.name}")
        self.last: datetime | None = None

    async def run(self, stopping: asyncio.Event) -> None:
        due = self.schedule.after(self.clock())
        log.info(
            "Timer %s: schedule %r (UTC), next run at %s.",
            self.function.name,
            self.schedule.expression,
            _iso(due),
        )
        if self.function.run_on_startup and not stopping.is_set():
            await self._fire(past_due=False, next_due=due)
        while not stopping.is_set():
            delay = (due - self.clock()).total_seconds()
            if delay > 0:
                try:
                    await asyncio.wait_for(stopping.wait(), timeout=delay)
                    break
                except TimeoutError:
                    pass
            started = self.clock()
            past_due = started - due > PAST_DUE_AFTER
            served = self.schedule.latest_until(started, since=due)
            next_due = self.schedule.after(served)
            await self._fire(past_due=past_due, next_due=next_due)
            due = next_due

    async def _fire(self, *, past_due: bool, next_due: datetime) -> None:
        now = self.clock()
        started = time.perf_counter()
        outcome = "ok"
        try:
            request = TimerRequest(
                past_due=past_due,
                schedule_status={
                    "Last": _iso(self.last),
                    "Next": _iso(next_due),
                    "LastUpdated": _iso(now),
                },
                schedule={"AdjustForDST": True},
            )
            # Its own task on the loop, outside the HTTP calls' limits: no request,
            # however stalled, delays a check.
            await self.function.handler(**{self.function.arg_name: request})
        except Exception:  # logged with context; the schedule goes on
            outcome = "failed"
            log.exception(
                "Timer %s raised; the next run is at %s.",
                self.function.name,
                _iso(next_due),
            )
        finally:
            self.last = now
        log.info(
            "function=%s timer past_due=%s status=%s duration_ms=%.1f",
            self.function.name,
            str(past_due).lower(),
            outcome,
            (time.perf_counter() - started) * 1000,
        )
