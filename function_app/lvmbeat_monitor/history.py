"""The outage history: a row per outage and per maintenance window, for people.

The state row (state.py) says what is true now; these rows say what happened. They
live in the same table, partition `history`, and are written only when something
happens: an outage declared, its alert delivered on a channel, the outage over, a
maintenance window opened or closed. `/heartbeat` and a quiet check never write here.

Why the writes are safe without a transaction:
- A row's key is derived from what it records (the outage's id and declaration time,
  the window's start), never made up by the writer, so two checkers or a retry that
  record the same fact write the same row.
- Every write is an upsert-merge that only adds facts (a property per channel reached,
  ended_at once the outage is over), so repeating one writes the same thing, and
  writes that arrive in another order still add up to the whole row.
- They happen after the state's ETag write, outside it: a history write that fails is
  logged at WARNING and kept in a small backlog that the next write attempt (the next
  check, at the latest) sends again. History never holds an alert back.

Keys sort newest first (the time part is inverted), so one query with a RowKey range
and a page size reads the last N days, newest first (`read`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from typing import Any, Protocol

from azure.core.exceptions import (
    AzureError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient

from lvmbeat_monitor.clock import from_stored, iso_z, to_stored
from lvmbeat_monitor.model import NEVER, MonitorState, Notice, NoticeKind, Outage
from lvmbeat_monitor.state import StorageUnavailable


log = logging.getLogger(__name__)

PARTITION = "history"
OUTAGE = "outage"
WINDOW = "window"
# Default of LVMBEAT_HISTORY_DAYS, and the longest /history?days= may ask for.
DEFAULT_RETENTION_DAYS = 400
# One page of one query: far more than 400 days of a sane link would produce; a
# flapping one shows its newest rows and says the list was cut.
MAX_ROWS = 500
# Rows older than the retention, deleted per transition that opens something.
PRUNE_BATCH = 50
# Failed writes kept for a retry; beyond this the oldest are given up (logged).
MAX_BACKLOG = 50

# Microseconds since the epoch of 9999-12-31: inverted times count down from here.
_END_OF_TIME_US = int(NEVER.timestamp() * 1_000_000)
_KEY_DIGITS = 19
_CHANNEL_PROPERTY = re.compile(r"[^A-Za-z0-9]")


# --- what a transition adds to the history (pure) -----------------------------------


@dataclass(frozen=True)
class OutageFacts:
    """Facts about one outage; each write carries every fact its writer knows, so a
    later write repairs an earlier one that was lost."""

    outage: Outage
    ended_at: datetime | None = None
    back_at: datetime | None = None
    # Channels the alert reached, with when.
    reached: tuple[tuple[str, datetime], ...] = ()


@dataclass(frozen=True)
class WindowOpened:
    """Monitoring disabled at `started_at`, until `until` (None: until /enable)."""

    started_at: datetime
    until: datetime | None


@dataclass(frozen=True)
class WindowsClosed:
    """Monitoring resumed at `ended_at`: every open window ends there."""

    ended_at: datetime


Fact = OutageFacts | WindowOpened | WindowsClosed


def transition_facts(
    before: MonitorState | None, after: MonitorState, now: datetime
) -> list[Fact]:
    """What a state change (read `before`, wrote `after` at `now`) adds to the
    history. Empty for a quiet check: nothing is written then."""
    facts: list[Fact] = []
    old = before.outage if before else None
    new = after.outage
    if old is not None and (new is None or new.id != old.id):
        up = _queued_up(before, after)
        facts.append(OutageFacts(old, ended_at=now, back_at=up.back_at if up else None))
    if new is not None and (old is None or old.id != new.id):
        facts.append(OutageFacts(new))
    facts.extend(_window_facts(before, after, now))
    return facts


def delivery_facts(
    delivered: Iterable[tuple[Notice, str]], state: MonitorState | None, now: datetime
) -> list[Fact]:
    """Alerts that went out: the channel reached is recorded on the outage the
    alert declared (or, for an operator's forced repeat, the outage under way)."""
    facts: list[Fact] = []
    for notice, channel in delivered:
        if notice.kind is not NoticeKind.DOWN:
            continue
        current = state.outage if state is not None else None
        if current is not None and current.id == notice.id:
            outage = current
        elif not notice.forced:  # a check's alert: its id is its outage's
            outage = Outage(
                notice.id, notice.decided_at, notice.last_seen, notice.silent_since
            )
        elif current is not None:  # an operator's repeat, during an outage
            outage = current
        else:
            # An operator's alert delivered after its outage ended: it cannot be
            # told from a repeat, and guessing would invent an outage row.
            continue
        facts.append(OutageFacts(outage, reached=((channel, now),)))
    return facts


def _queued_up(before: MonitorState | None, after: MonitorState) -> Notice | None:
    """The all-clear this transition queued (its back_at is when LCO came back)."""
    known = {p.notice.id for p in before.outbox} if before else set()
    for pending in reversed(after.outbox):
        if pending.notice.kind is NoticeKind.UP and pending.notice.id not in known:
            return pending.notice
    return None


def _window_facts(
    before: MonitorState | None, after: MonitorState, now: datetime
) -> list[Fact]:
    facts: list[Fact] = []
    old_until = before.disabled_until if before else None
    new_until = after.disabled_until
    if old_until is not None and new_until != old_until:
        # A timed window that ran out ended at its own end; anything else at now.
        facts.append(WindowsClosed(old_until if old_until <= now else now))
    if after.is_disabled(now) and new_until != old_until:
        facts.append(WindowOpened(now, None if new_until == NEVER else new_until))
    return facts


# --- what a reader gets -------------------------------------------------------------


@dataclass(frozen=True)
class OutageRecord:
    """One outage as the history holds it."""

    id: str
    declared_at: datetime
    silent_since: datetime | None
    last_seen: datetime | None
    back_at: datetime | None
    ended_at: datetime | None
    reached: dict[str, datetime] = field(default_factory=dict)

    @property
    def started(self) -> datetime:
        """When the silence began (declared_at for an operator's /notify/down)."""
        return self.silent_since or self.declared_at

    @property
    def alerted_at(self) -> datetime | None:
        """When the alert first reached a channel."""
        return min(self.reached.values()) if self.reached else None

    def end(self, now: datetime) -> datetime:
        """When it ended: LCO's first heartbeat back if known, else the check that
        saw it; now while it lasts."""
        return self.back_at or self.ended_at or now

    def duration(self, now: datetime) -> timedelta:
        return max(timedelta(0), self.end(now) - self.started)


@dataclass(frozen=True)
class WindowRecord:
    """A maintenance window: monitoring disabled by an operator."""

    started_at: datetime
    until: datetime | None  # planned end; None: until /enable
    ended_at: datetime | None  # None: still open (or it ran out unnoticed)

    def end(self, now: datetime) -> datetime:
        planned = self.until if self.until is not None else now
        return min(self.ended_at or planned, now)


@dataclass(frozen=True)
class History:
    """What one read returns, newest first."""

    outages: tuple[OutageRecord, ...] = ()
    windows: tuple[WindowRecord, ...] = ()
    truncated: bool = False


class HistoryLog(Protocol):
    """Where the history lives; AzureHistoryLog is the real one."""

    async def record(self, facts: Sequence[Fact], now: datetime) -> None:
        """Write these facts (and any that failed before); never raises."""
        ...

    async def read(self, since: datetime) -> History: ...


class NoHistory:
    """For stores without a table (the protocol explorer's in-memory one)."""

    async def record(self, facts: Sequence[Fact], now: datetime) -> None:
        return None

    async def read(self, since: datetime) -> History:
        return History()


class AzureHistoryLog:
    """The history in the monitor's own table, partition `history`."""

    def __init__(self, table: TableClient, *, retention_days: int) -> None:
        self._table = table
        self._retention = timedelta(days=retention_days)
        self._backlog: list[Fact] = []

    async def record(self, facts: Sequence[Fact], now: datetime) -> None:
        pending, self._backlog = [*self._backlog, *facts], []
        if not pending:
            return  # a quiet check: no I/O at all
        for position, fact in enumerate(pending):
            try:
                await self._write(fact)
            except AzureError as error:
                # Keep the order: later facts may close what this one opens.
                self._keep(pending[position:], error)
                return
            except Exception:  # noqa: BLE001 - a bug of ours must not stop alerts
                log.warning(
                    "Writing the history fact (%s) failed unexpectedly; it is "
                    "dropped, the alerting state is unaffected.",
                    _describe(fact),
                    exc_info=True,
                )
        if any(_opens(fact) for fact in facts):
            await self._prune(now)

    async def read(self, since: datetime) -> History:
        """Rows from `since` on, newest first: one query, one page."""
        query = "PartitionKey eq @pk and RowKey lt @upto"
        upto = f"{_inverted(since) + 1:0{_KEY_DIGITS}d}"
        rows: list[dict[str, Any]] = []
        try:
            pages = self._table.query_entities(
                query,
                parameters={"pk": PARTITION, "upto": upto},
                results_per_page=MAX_ROWS,
            ).by_page()
            async for page in pages:
                rows = [row async for row in page]
                break  # one page: the read is bounded whatever the table holds
        except ResourceNotFoundError:
            return History()
        except AzureError as error:
            raise StorageUnavailable(
                f"Could not read the outage history in table "
                f"{self._table.table_name!r} ({_reason(error)}). Check the storage "
                "settings and that the storage account is up."
            ) from error
        outages = tuple(_outage(r) for r in rows if r.get("kind") == OUTAGE)
        windows = tuple(_window(r) for r in rows if r.get("kind") == WINDOW)
        return History(outages, windows, truncated=len(rows) >= MAX_ROWS)

    # --- writes ---------------------------------------------------------------

    async def _write(self, fact: Fact) -> None:
        if isinstance(fact, WindowsClosed):
            await self._close_windows(fact.ended_at)
            return
        entity = (
            outage_entity(fact)
            if isinstance(fact, OutageFacts)
            else window_entity(fact)
        )
        await self._merge(entity)

    async def _merge(self, entity: dict[str, Any]) -> None:
        try:
            await self._table.upsert_entity(entity, mode=UpdateMode.MERGE)
        except ResourceNotFoundError:  # no table yet (a check creates it first)
            try:
                await self._table.create_table()
            except ResourceExistsError:
                pass
            await self._table.upsert_entity(entity, mode=UpdateMode.MERGE)

    async def _close_windows(self, ended_at: datetime) -> None:
        """End every open window that began before `ended_at` (found among the
        newest window rows: one query)."""
        rows = self._table.query_entities(
            "PartitionKey eq @pk and kind eq @kind",
            parameters={"pk": PARTITION, "kind": WINDOW},
            results_per_page=20,
        ).by_page()
        async for page in rows:
            for row in [r async for r in page]:
                started = from_stored(row.get("started_at"))
                if row.get("ended_at") or started is None or started > ended_at:
                    continue
                await self._merge(
                    {
                        "PartitionKey": PARTITION,
                        "RowKey": row["RowKey"],
                        "ended_at": ended_at.isoformat(),
                    }
                )
            break

    async def _prune(self, now: datetime) -> None:
        """Delete a batch of rows older than the retention (LVMBEAT_HISTORY_DAYS).
        Runs when something opens, so the cost follows the transitions."""
        older = f"{_inverted(now - self._retention):0{_KEY_DIGITS}d}"
        try:
            pages = self._table.query_entities(
                "PartitionKey eq @pk and RowKey gt @older",
                parameters={"pk": PARTITION, "older": older},
                results_per_page=PRUNE_BATCH,
                select=["PartitionKey", "RowKey"],
            ).by_page()
            async for page in pages:
                for row in [r async for r in page]:
                    await self._table.delete_entity(PARTITION, row["RowKey"])
                break
        except AzureError as error:
            log.warning(
                "Could not delete history rows older than %s days from table %r "
                "(%s); the next transition tries again.",
                self._retention.days,
                self._table.table_name,
                type(error).__name__,
            )

    def _keep(self, facts: list[Fact], error: AzureError) -> None:
        kept = facts[-MAX_BACKLOG:]
        given_up = len(facts) - len(kept)
        self._backlog = kept
        log.warning(
            "Could not write %d history fact(s) (%s) to table %r (%s); the alerting "
            "state is unaffected, and the next check writes them again.%s",
            len(facts),
            ", ".join(_describe(fact) for fact in facts[:5]),
            self._table.table_name,
            _reason(error),
            f" {given_up} older one(s) given up." if given_up else "",
        )


def _opens(fact: Fact) -> bool:
    if isinstance(fact, WindowOpened):
        return True
    return isinstance(fact, OutageFacts) and fact.ended_at is None and not fact.reached


def history_for(store: object, *, retention_days: int) -> HistoryLog:
    """The history beside a state store: in its table when it has one."""
    table = getattr(store, "table_client", None)
    if isinstance(table, TableClient):
        return AzureHistoryLog(table, retention_days=retention_days)
    return NoHistory()


# --- rows ---------------------------------------------------------------------------


def row_key(moment: datetime, kind: str, name: str = "") -> str:
    """Newest first: the inverted time, then what the row is about."""
    suffix = f"-{name}" if name else ""
    return f"{_inverted(moment):0{_KEY_DIGITS}d}-{kind}{suffix}"


def outage_entity(facts: OutageFacts) -> dict[str, Any]:
    outage = facts.outage
    entity: dict[str, Any] = {
        "PartitionKey": PARTITION,
        "RowKey": row_key(outage.declared_at, OUTAGE, outage.id),
        "kind": OUTAGE,
        "outage_id": outage.id,
        "declared_at": outage.declared_at.isoformat(),
        "silent_since": to_stored(outage.silent_since),
        "last_seen": to_stored(outage.last_seen),
        "ended_at": to_stored(facts.ended_at),
        "back_at": to_stored(facts.back_at),
    }
    for channel, at in facts.reached:
        entity[_reached_property(channel)] = at.isoformat()
    # None is left out: a merge then keeps what an earlier write stored.
    return {key: value for key, value in entity.items() if value is not None}


def window_entity(opened: WindowOpened) -> dict[str, Any]:
    entity = {
        "PartitionKey": PARTITION,
        "RowKey": row_key(opened.started_at, WINDOW),
        "kind": WINDOW,
        "started_at": opened.started_at.isoformat(),
        "until": to_stored(opened.until),
    }
    return {key: value for key, value in entity.items() if value is not None}


def _reached_property(channel: str) -> str:
    return "reached_" + _CHANNEL_PROPERTY.sub("_", channel)


def _outage(row: dict[str, Any]) -> OutageRecord:
    reached = {
        name.removeprefix("reached_"): from_stored(value)
        for name, value in row.items()
        if name.startswith("reached_") and value
    }
    return OutageRecord(
        id=row.get("outage_id", ""),
        declared_at=from_stored(row["declared_at"]),
        silent_since=from_stored(row.get("silent_since")),
        last_seen=from_stored(row.get("last_seen")),
        back_at=from_stored(row.get("back_at")),
        ended_at=from_stored(row.get("ended_at")),
        reached=dict(sorted(reached.items())),
    )


def _window(row: dict[str, Any]) -> WindowRecord:
    return WindowRecord(
        started_at=from_stored(row["started_at"]),
        until=from_stored(row.get("until")),
        ended_at=from_stored(row.get("ended_at")),
    )


def _inverted(moment: datetime) -> int:
    micros = int(moment.astimezone(UTC).timestamp() * 1_000_000)
    return max(0, _END_OF_TIME_US - micros)




def _describe(fact: Fact) -> str:
    if isinstance(fact, OutageFacts):
        what = "ended" if fact.ended_at else "reached" if fact.reached else "declared"
        return f"outage {fact.outage.id} {what}"
    if isinstance(fact, WindowOpened):
        return f"window opened {fact.started_at.isoformat()}"
    return f"windows closed {fact.ended_at.isoformat()}"


def _reason(error: AzureError) -> str:
    """The kind of failure, without the service's text (it may name the account)."""
    status = getattr(error, "status_code", None)
    return f"{type(error).__name__}, HTTP {status}" if status else type(error).__name__


# --- /history's JSON ----------------------------------------------------------------


def history_json(history: History, now: datetime, days: int) -> dict[str, Any]:
    """What `/history` answers: outages newest first (the CONTRACT's fields), and
    the maintenance windows beside them."""
    return {
        "days": days,
        "outages": [outage_json(outage, now) for outage in history.outages],
        "windows": [
            {
                "started_at": iso_z(w.started_at),
                "until": iso_z(w.until),
                "ended_at": iso_z(w.ended_at),
            }
            for w in history.windows
        ],
        "truncated": history.truncated,
    }


def outage_json(outage: OutageRecord, now: datetime) -> dict[str, Any]:
    return {
        "id": outage.id,
        "silent_since": iso_z(outage.silent_since),
        "alerted_at": iso_z(outage.alerted_at),
        "back_at": iso_z(outage.back_at),
        "ended_at": iso_z(outage.ended_at),
        "duration_s": round(outage.duration(now).total_seconds()),
        "channels": list(outage.reached),
    }
