"""Where the monitor's state lives: Azure Table Storage, behind a small Protocol.

One partition, two entities:
- `heartbeat`: `last_seen` and the actor's report that came with it (report.py),
  replaced unconditionally by `/heartbeat` (one write, no read): the report always
  belongs to that heartbeat, and a heartbeat without one removes the older report;
- `state`: everything else (model.MonitorState), changed only with the ETag it was read
  with (`MatchConditions.IfNotModified`), so concurrent writers cannot both win.
A check reads both with one partition query (one request).

The client is the SDK's async one (`azure.data.tables.aio`, over aiohttp): the triggers
are coroutines on the Functions worker's event loop, and a slow storage call then holds
no thread.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from typing import Any, Protocol

import aiohttp
from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient, TableServiceClient

from lvmbeat_monitor.clock import from_stored, to_stored
from lvmbeat_monitor.model import (
    Delivery,
    MonitorState,
    Notice,
    NoticeKind,
    Outage,
    Pending,
    Receipt,
)
from lvmbeat_monitor.proxies import proxies_for
from lvmbeat_monitor.report import (
    LastReport,
    Report,
    load_stored_report,
    stored_report,
)
from lvmbeat_monitor.settings import Settings, StorageAuth
from lvmbeat_monitor.table_put import Patience, TablePut


log = logging.getLogger(__name__)

PARTITION = "monitor"
HEARTBEAT_ROW = "heartbeat"
STATE_ROW = "state"
# The layout of the state entity. A row of another layout (the 1.0 one) is read as no
# state: the next check writes a fresh one over it, counting the silence from then.
# Properties added later (reminders, receipts, a notice's outage) are optional and
# read with their defaults, so a row written before them keeps its outage and outbox.
STATE_SCHEMA = 2

# Heartbeats and checks must fail fast when storage is away: a few quick retries,
# short timeouts, instead of the SDK's ten retries with backoff (minutes). The
# environment's proxy settings are read once (proxies.py), not on every request.
CLIENT_OPTIONS: dict[str, Any] = {
    "retry_total": 2,
    "retry_backoff_factor": 0.2,
    "retry_backoff_max": 2,
    "connection_timeout": 5,
    "read_timeout": 10,
}


class StorageUnavailable(RuntimeError):
    """Table Storage could not be reached or refused us; the message says which."""


class StateChanged(RuntimeError):
    """Someone else changed the state since we read it: re-read and decide again."""


@dataclass(frozen=True)
class Snapshot:
    """What one read returns: the state (None before the first check, or when the row
    has an older layout), the ETag of the state row (None: no row), the last
    heartbeat and the report that came with it (None: it carried none)."""

    state: MonitorState | None
    etag: str | None
    last_seen: datetime | None
    last_report: LastReport | None = None


class StateStore(Protocol):
    """The storage the service needs; AzureTableStore is the real one, and the
    protocol explorer (tests/protocol) has an in-memory one with the same ETag rules."""

    async def read(self) -> Snapshot: ...

    async def record_heartbeat(
        self, at: datetime, report: Report | None = None
    ) -> None: ...

    async def save(self, state: MonitorState, etag: str | None) -> str:
        """Create (etag None) or conditionally replace the state row; return the new
        ETag. Raises StateChanged when someone else wrote first, StorageUnavailable
        when storage could not be reached (the write may or may not have applied)."""
        ...

    async def close(self) -> None: ...


def _service_client(settings: Settings, options: dict[str, Any]) -> TableServiceClient:
    if settings.storage_auth is StorageAuth.MANAGED_IDENTITY:
        from azure.identity.aio import DefaultAzureCredential

        return TableServiceClient(
            endpoint=settings.table_endpoint,
            credential=DefaultAzureCredential(),
            **options,
        )
    return TableServiceClient.from_connection_string(
        settings.storage_connection().get_secret_value(), **options
    )


class AzureTableStore:
    """StateStore on an Azure table (Azurite locally)."""

    def __init__(
        self,
        table: TableClient,
        service: TableServiceClient | None = None,
        heartbeat_put: TablePut | None = None,
    ) -> None:
        self._table = table
        self._heartbeat_put = heartbeat_put or TablePut.for_table(
            table, Patience.from_sdk_options(CLIENT_OPTIONS)
        )
        # A table client made by a service client shares its connections, and only
        # the service client's close() releases them.
        self._service = service

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        trace_configs: Sequence[aiohttp.TraceConfig] = (),
        **client_options: Any,
    ) -> AzureTableStore:
        """The store for the settings' table. `client_options` go to the SDK's client;
        the heartbeat's writer waits and retries as they say, and takes
        `trace_configs` (aiohttp's request hooks: tests count its requests)."""
        options = {**CLIENT_OPTIONS, "use_env_settings": False, **client_options}
        service = _service_client(settings, options)
        proxies = proxies_for(service.url)
        if proxies:  # rare: storage reached through a proxy; no request sent yet
            service = _service_client(settings, {**options, "proxies": proxies})
        table = service.get_table_client(settings.table_name)
        heartbeat_put = TablePut.for_table(
            table, Patience.from_sdk_options(options), trace_configs=trace_configs
        )
        return cls(table, service, heartbeat_put)

    @property
    def table_name(self) -> str:
        return self._table.table_name

    @property
    def table_client(self) -> TableClient:
        """The table, for the outage history's rows beside the state (history.py)."""
        return self._table

    async def close(self) -> None:
        await self._heartbeat_put.close()
        await self._table.close()
        if self._service is not None:
            await self._service.close()

    async def read(self) -> Snapshot:
        try:
            rows = [
                row
                async for row in self._table.query_entities(
                    "PartitionKey eq @pk", parameters={"pk": PARTITION}
                )
            ]
        except ResourceNotFoundError:
            return Snapshot(None, None, None)  # no table yet: nothing ever happened
        except AzureError as error:
            raise self._unavailable("read the monitor state", error) from error
        by_row = {row["RowKey"]: row for row in rows}
        heartbeat = by_row.get(HEARTBEAT_ROW)
        state_row = by_row.get(STATE_ROW)
        last_seen = from_stored(heartbeat.get("last_seen")) if heartbeat else None
        report = (
            load_stored_report(heartbeat.get("report"), last_seen)
            if heartbeat
            else None
        )
        if state_row is None:
            return Snapshot(None, None, last_seen, report)
        etag = state_row.metadata["etag"]
        if state_row.get("schema") != STATE_SCHEMA:
            log.warning(
                "The monitor state in table %r has an older layout (schema %r); the "
                "next check replaces it and counts any silence from then.",
                self.table_name,
                state_row.get("schema"),
            )
            return Snapshot(None, etag, last_seen, report)
        return Snapshot(state_from_entity(state_row), etag, last_seen, report)

    async def record_heartbeat(
        self, at: datetime, report: Report | None = None
    ) -> None:
        """One upsert (REPLACE) of the heartbeat entity, the report in it, sent
        without the SDK's pipeline (table_put.py: the hot path)."""
        entity = {"PartitionKey": PARTITION, "RowKey": HEARTBEAT_ROW}
        entity["last_seen"] = at.isoformat()
        if report is not None:
            entity["report"] = stored_report(report)
        await self._with_table(
            "record the heartbeat", self._heartbeat_put.upsert, entity
        )

    async def save(self, state: MonitorState, etag: str | None) -> str:
        entity = entity_from_state(state)
        try:
            if etag is None:
                metadata = await self._with_table(
                    "create the monitor state", self._table.create_entity, entity
                )
            else:
                metadata = await self._table.update_entity(
                    entity,
                    mode=UpdateMode.REPLACE,
                    etag=etag,
                    match_condition=MatchConditions.IfNotModified,
                )
        except (ResourceModifiedError, ResourceExistsError) as error:
            raise StateChanged("the monitor state changed since it was read") from error
        except ResourceNotFoundError as error:  # deleted under us: start over
            raise StateChanged("the monitor state disappeared") from error
        except HttpResponseError as error:
            if error.status_code == 412:
                raise StateChanged(
                    "the monitor state changed since it was read"
                ) from error
            raise self._unavailable("save the monitor state", error) from error
        except AzureError as error:
            raise self._unavailable("save the monitor state", error) from error
        return metadata["etag"]

    async def _with_table(self, what: str, operation, *args, **kwargs):
        """Run a write; create the table when it does not exist yet (first use)."""
        try:
            try:
                return await operation(*args, **kwargs)
            except ResourceNotFoundError:
                try:
                    await self._table.create_table()
                except ResourceExistsError:
                    pass  # another instance created it meanwhile
                return await operation(*args, **kwargs)
        except (ResourceModifiedError, ResourceExistsError):
            raise
        except AzureError as error:
            raise self._unavailable(what, error) from error

    def _unavailable(self, what: str, error: AzureError) -> StorageUnavailable:
        if isinstance(error, ClientAuthenticationError):
            reason = "it refused our credentials"
        elif isinstance(error, HttpResponseError) and error.status_code:
            reason = f"it answered HTTP {error.status_code}"
        else:
            reason = "it could not be reached"
        return StorageUnavailable(
            f"Could not {what} in table {self.table_name!r}: {reason}. "
            "Check the storage settings and that the storage account is up."
        )


# --- entity <-> model ---------------------------------------------------------------


def entity_from_state(state: MonitorState) -> dict[str, Any]:
    """A flat table entity: times as ISO strings (microseconds kept), None omitted (a
    REPLACE then removes the property), the outbox as one JSON property."""
    outage = state.outage
    entity: dict[str, Any] = {
        "PartitionKey": PARTITION,
        "RowKey": STATE_ROW,
        "schema": STATE_SCHEMA,
        "counting_from": to_stored(state.counting_from),
        "last_check": to_stored(state.last_check),
        "disabled_until": to_stored(state.disabled_until),
        "outage_id": outage.id if outage else None,
        "outage_declared_at": to_stored(outage.declared_at) if outage else None,
        "outage_last_seen": to_stored(outage.last_seen) if outage else None,
        "outage_silent_since": to_stored(outage.silent_since) if outage else None,
        "outage_reminded": outage.reminded if outage and outage.reminded else None,
        "outbox": json.dumps([_pending_json(p) for p in state.outbox])
        if state.outbox
        else None,
        "receipts": json.dumps(
            [[r.outage_id, r.channel, r.value] for r in state.receipts]
        )
        if state.receipts
        else None,
    }
    return {key: value for key, value in entity.items() if value is not None}


def state_from_entity(entity: dict[str, Any]) -> MonitorState:
    outage = None
    if entity.get("outage_id"):
        outage = Outage(
            id=entity["outage_id"],
            declared_at=from_stored(entity["outage_declared_at"]),
            last_seen=from_stored(entity.get("outage_last_seen")),
            silent_since=from_stored(entity.get("outage_silent_since")),
            reminded=int(entity.get("outage_reminded") or 0),
        )
    outbox = tuple(_pending(item) for item in json.loads(entity.get("outbox") or "[]"))
    return MonitorState(
        counting_from=from_stored(entity["counting_from"]),
        last_check=from_stored(entity["last_check"]),
        disabled_until=from_stored(entity.get("disabled_until")),
        outage=outage,
        outbox=outbox,
        receipts=tuple(
            Receipt(*item) for item in json.loads(entity.get("receipts") or "[]")
        ),
    )


def _pending_json(pending: Pending) -> dict[str, Any]:
    notice = pending.notice
    return {
        "notice": {
            "id": notice.id,
            "kind": str(notice.kind),
            "decided_at": to_stored(notice.decided_at),
            "last_seen": to_stored(notice.last_seen),
            "silent_since": to_stored(notice.silent_since),
            "back_at": to_stored(notice.back_at),
            "forced": notice.forced,
            "outage_id": notice.outage_id,
            "reminder": notice.reminder,
        },
        "deliveries": {
            channel: {
                "claim": delivery.claim,
                "claimed_until": to_stored(delivery.claimed_until),
                "attempts": delivery.attempts,
                "error": delivery.error,
            }
            for channel, delivery in pending.deliveries
        },
    }


def _pending(item: dict[str, Any]) -> Pending:
    raw = item["notice"]
    notice = Notice(
        id=raw["id"],
        kind=NoticeKind(raw["kind"]),
        decided_at=from_stored(raw["decided_at"]),
        last_seen=from_stored(raw.get("last_seen")),
        silent_since=from_stored(raw.get("silent_since")),
        back_at=from_stored(raw.get("back_at")),
        forced=bool(raw.get("forced", False)),
        outage_id=raw.get("outage_id"),
        reminder=int(raw.get("reminder", 0)),
    )
    deliveries = tuple(
        (
            channel,
            Delivery(
                claim=value.get("claim"),
                claimed_until=from_stored(value.get("claimed_until")),
                attempts=int(value.get("attempts", 0)),
                error=value.get("error"),
            ),
        )
        for channel, value in sorted(item["deliveries"].items())
    )
    return Pending(notice, deliveries)



