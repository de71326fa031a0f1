"""Where the monitor's state lives: Azure Table Storage, behind a small Protocol.

One partition, two entities:
- `heartbeat`: `last_seen`, replaced unconditionally by `/heartbeat` (one write, no
  read);
- `state`: everything else (model.MonitorState), changed only with the ETag it was read
  with (`MatchConditions.IfNotModified`), so concurrent checkers cannot both win.
A check reads both with one partition query (one request).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from typing import Any, Protocol

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import TableClient, TableServiceClient, UpdateMode

from lvmbeat_monitor.model import MonitorState, Notice, NoticeKind, Pending
from lvmbeat_monitor.settings import Settings, StorageAuth


log = logging.getLogger(__name__)

PARTITION = "monitor"
HEARTBEAT_ROW = "heartbeat"
STATE_ROW = "state"

# Heartbeats and checks must fail fast when storage is away: a few quick retries,
# short timeouts, instead of the SDK's ten retries with backoff (minutes).
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
    """What one read returns: the state (None before the first check), its ETag,
    and the last heartbeat."""

    state: MonitorState | None
    etag: str | None
    last_seen: datetime | None


class StateStore(Protocol):
    """The storage the service needs; AzureTableStore is the real one."""

    def read(self) -> Snapshot: ...

    def record_heartbeat(self, at: datetime) -> None: ...

    def save(self, state: MonitorState, etag: str | None) -> str:
        """Create (etag None) or conditionally replace the state; return the new
        ETag. Raises StateChanged when someone else wrote first."""
        ...


class AzureTableStore:
    """StateStore on an Azure table (Azurite locally)."""

    def __init__(self, table: TableClient) -> None:
        self._table = table

    @classmethod
    def from_settings(
        cls, settings: Settings, **client_options: Any
    ) -> AzureTableStore:
        options = {**CLIENT_OPTIONS, **client_options}
        if settings.storage_auth is StorageAuth.MANAGED_IDENTITY:
            from azure.identity import DefaultAzureCredential

            service = TableServiceClient(
                endpoint=settings.table_endpoint,
                credential=DefaultAzureCredential(),
                **options,
            )
        else:
            service = TableServiceClient.from_connection_string(
                settings.storage_connection().get_secret_value(), **options
            )
        return cls(service.get_table_client(settings.table_name))

    @property
    def table_name(self) -> str:
        return self._table.table_name

    def read(self) -> Snapshot:
        try:
            rows = list(
                self._table.query_entities(
                    "PartitionKey eq @pk", parameters={"pk": PARTITION}
                )
            )
        except ResourceNotFoundError:
            return Snapshot(None, None, None)  # no table yet: nothing ever happened
        except AzureError as error:
            raise self._unavailable("read the monitor state", error) from error
        by_row = {row["RowKey"]: row for row in rows}
        heartbeat = by_row.get(HEARTBEAT_ROW)
        state_row = by_row.get(STATE_ROW)
        last_seen = _time(heartbeat.get("last_seen")) if heartbeat else None
        if state_row is None:
            return Snapshot(None, None, last_seen)
        return Snapshot(
            state_from_entity(state_row), state_row.metadata["etag"], last_seen
        )

    def record_heartbeat(self, at: datetime) -> None:
        entity = {"PartitionKey": PARTITION, "RowKey": HEARTBEAT_ROW}
        entity["last_seen"] = at.isoformat()
        self._with_table(
            "record the heartbeat",
            self._table.upsert_entity,
            entity,
            mode=UpdateMode.REPLACE,
        )

    def save(self, state: MonitorState, etag: str | None) -> str:
        entity = entity_from_state(state)
        try:
            if etag is None:
                metadata = self._with_table(
                    "create the monitor state", self._table.create_entity, entity
                )
            else:
                metadata = self._table.update_entity(
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

    def _with_table(self, what: str, operation, *args, **kwargs):
        """Run a write; create the table when it does not exist yet (first use)."""
        try:
            try:
                return operation(*args, **kwargs)
            except ResourceNotFoundError:
                try:
                    self._table.create_table()
                except ResourceExistsError:
                    pass  # another instance created it meanwhile
                return operation(*args, **kwargs)
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

_TIMES = (
    "started_at",
    "disabled_until",
    "enabled_at",
    "resumed_at",
    "last_check",
    "outage_last_seen",
    "outage_silent_since",
    "last_sent_at",
)


def entity_from_state(state: MonitorState) -> dict[str, Any]:
    """A flat table entity; times as ISO strings (microseconds kept), None omitted
    (a REPLACE then removes the property)."""
    entity: dict[str, Any] = {
        "PartitionKey": PARTITION,
        "RowKey": STATE_ROW,
        "enabled": state.enabled,
        "active": state.active,
        "last_error": state.last_error,
        "last_sent_kind": str(state.last_sent_kind) if state.last_sent_kind else None,
    }
    for name in _TIMES:
        entity[name] = _iso(getattr(state, name))
    if state.pending is not None:
        pending, notice = state.pending, state.pending.notice
        entity.update(
            pending_id=notice.id,
            pending_kind=str(notice.kind),
            pending_decided_at=_iso(notice.decided_at),
            pending_last_seen=_iso(notice.last_seen),
            pending_silent_since=_iso(notice.silent_since),
            pending_back_at=_iso(notice.back_at),
            pending_forced=notice.forced,
            pending_claimed_by=pending.claimed_by,
            pending_claimed_until=_iso(pending.claimed_until),
            pending_attempts=pending.attempts,
        )
    return {key: value for key, value in entity.items() if value is not None}


def state_from_entity(entity: dict[str, Any]) -> MonitorState:
    times = {name: _time(entity.get(name)) for name in _TIMES}
    pending = None
    if entity.get("pending_id"):
        notice = Notice(
            id=entity["pending_id"],
            kind=NoticeKind(entity["pending_kind"]),
            decided_at=_time(entity["pending_decided_at"]),
            last_seen=_time(entity.get("pending_last_seen")),
            silent_since=_time(entity.get("pending_silent_since")),
            back_at=_time(entity.get("pending_back_at")),
            forced=bool(entity.get("pending_forced", False)),
        )
        pending = Pending(
            notice=notice,
            claimed_by=entity.get("pending_claimed_by"),
            claimed_until=_time(entity.get("pending_claimed_until")),
            attempts=int(entity.get("pending_attempts", 0)),
        )
    kind = entity.get("last_sent_kind")
    return MonitorState(
        enabled=bool(entity.get("enabled", True)),
        active=bool(entity.get("active", False)),
        pending=pending,
        last_error=entity.get("last_error"),
        last_sent_kind=NoticeKind(kind) if kind else None,
        **times,
    )


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _time(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)
