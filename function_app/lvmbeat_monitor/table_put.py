"""One entity upsert sent straight over Table Storage's REST API: the heartbeat's write.

`/heartbeat` is the monitor's hot path (LCO's actor every 15 s, and the route measured
against the first lvmbeat in bench/monitor_vs_first.py). Through the Azure SDK, one
upsert passes a pipeline of some fifteen policies (headers, user agent, retries,
logging, tracing, signing, response hooks, deserialisation): here 0.62 to 0.67 ms of
CPU per upsert, against 0.21 to 0.24 ms for this module's request and 0.18 ms for the
whole of `/version` (docs/benchmarks.md). This module sends the one request itself.
Everything else (reads, ETag writes, creating the table, the history) stays on the
SDK, and the endpoint, credential and API version come from the SDK's
table client, so both reach the same table the same way.

The documented rules it follows, each exercised in tests/monitor/test_table_put.py
(against Azurite; a bearer token and busy answers against a local server):
- Insert Or Replace Entity: `PUT <table>(PartitionKey='<pk>',RowKey='<rk>')` without
  If-Match inserts or replaces, and answers 204; a key's single quote is doubled
  (OData literal). https://learn.microsoft.com/rest/api/storageservices/insert-or-replace-entity
- Shared Key for the Table service: `Authorization: SharedKey <account>:<signature>`,
  the HMAC-SHA256 (base64 account key) of VERB, Content-MD5, Content-Type, the date
  (x-ms-date) and the canonicalized resource, `/<account><encoded path>` (the emulator's
  path already starts with the account, so it appears twice).
  https://learn.microsoft.com/rest/api/storageservices/authorize-with-shared-key
- Microsoft Entra ID (the managed identity in Azure): `Authorization: Bearer <token>`
  for the scope `https://storage.azure.com/.default`, over HTTPS only (as azure-core's
  bearer policy); the Table service needs x-ms-version 2019-02-02 or later for it,
  which is the SDK's version that we send.
  https://learn.microsoft.com/rest/api/storageservices/authorize-with-azure-active-directory
- A shared access signature is the query string.
  https://learn.microsoft.com/rest/api/storageservices/create-service-sas
- A table that does not exist answers 404 with the code TableNotFound.
  https://learn.microsoft.com/rest/api/storageservices/table-service-error-codes

Failures are raised as the SDK's exception types (ResourceNotFoundError,
ClientAuthenticationError, HttpResponseError, ServiceRequestError), so the store
handles both paths alike. It waits and retries as the SDK client beside it is told to
(`Patience`, from state.CLIENT_OPTIONS): a failed connection or a 408/429/5xx answer is
retried with exponential backoff.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import json
import ssl
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.utils import formatdate
from urllib.parse import quote

from typing import Any

import aiohttp
from azure.core.credentials import (
    AccessToken,
    AzureNamedKeyCredential,
    AzureSasCredential,
)
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
)
from yarl import URL

from lvmbeat_monitor.proxies import proxies_for


STORAGE_SCOPE = "https://storage.azure.com/.default"
# The first Table service version that takes Microsoft Entra tokens (the Entra page
# above); the SDK client's version, which we send, must not be older.
ENTRA_MIN_VERSION = "2019-02-02"
# A token is renewed this long before it expires (the SDK's bearer policy: 300 s).
TOKEN_REFRESH_MARGIN = 300.0
RETRIED_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# Characters left as they are in the entity's path: the OData key syntax.
_PATH_SAFE = "/()',="


@dataclass(frozen=True)
class Patience:
    """How long to wait for storage and how often to try again."""

    retries: int
    backoff: float  # seconds before the first retry, doubled for each next one
    connect_timeout: float
    read_timeout: float
    # azure-core's connection_verify: True (the system's CAs), False, or a CA file.
    verify: bool | str = True

    @classmethod
    def from_sdk_options(cls, options: Mapping[str, Any]) -> Patience:
        """The same patience as an SDK client built with `options` (azure-core's
        retry_total, retry_backoff_factor, connection_timeout, read_timeout,
        connection_verify)."""
        return cls(
            retries=options["retry_total"],
            backoff=options["retry_backoff_factor"],
            connect_timeout=options["connection_timeout"],
            read_timeout=options["read_timeout"],
            verify=options.get("connection_verify", True),
        )

    def tls(self) -> ssl.SSLContext | bool:
        """aiohttp's `ssl` argument for `verify`."""
        if isinstance(self.verify, str):
            return ssl.create_default_context(cafile=self.verify)
        return bool(self.verify)


class TablePut:
    """Insert-or-replace entities of one table by one REST request each."""

    def __init__(
        self,
        table_url: str,
        credential: Any,
        api_version: str,
        patience: Patience,
        *,
        trace_configs: Sequence[aiohttp.TraceConfig] = (),
    ) -> None:
        self._table_url = table_url.rstrip("/")
        self._api_version = api_version
        self._credential = credential
        self._retry_delays = tuple(
            patience.backoff * 2**n for n in range(patience.retries)
        )
        self._timeout = aiohttp.ClientTimeout(
            sock_connect=patience.connect_timeout, sock_read=patience.read_timeout
        )
        self._tls = patience.tls()
        self._trace_configs = list(trace_configs)
        self._token: AccessToken | None = None
        self._token_lock = asyncio.Lock()
        self._entity_urls: dict[tuple[str, str], URL] = {}
        self._proxy = proxies_for(self._table_url).get(URL(self._table_url).scheme)
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def for_table(
        cls,
        table: Any,
        patience: Patience,
        *,
        trace_configs: Sequence[aiohttp.TraceConfig] = (),
    ) -> TablePut:
        """The writer for the table an SDK TableClient reaches, with its credential."""
        return cls(
            f"{table.url.rstrip('/')}/{quote(table.table_name)}",
            table.credential,
            table.api_version,
            patience,
            trace_configs=trace_configs,
        )

    async def upsert(self, entity: dict[str, str]) -> None:
        """Insert or replace `entity` (string properties only). Raises an AzureError
        subclass naming the status and the service's error code when it fails."""
        body = json.dumps(entity).encode()
        keys = (entity["PartitionKey"], entity["RowKey"])
        for attempt, delay in enumerate((*self._retry_delays, None)):
            try:
                status, code, request_id = await self._put(keys, body)
            except (aiohttp.ClientError, TimeoutError) as error:
                if delay is None:
                    raise ServiceRequestError(
                        f"Table storage at {self._host} could not be reached "
                        f"({type(error).__name__}) after {attempt + 1} attempts."
                    ) from error
            else:
                if status < 300:
                    return
                if status not in RETRIED_STATUSES or delay is None:
                    raise self._refused(status, code, request_id)
            await asyncio.sleep(delay)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def _host(self) -> str:
        return URL(self._table_url).host or self._table_url

    async def _put(
        self, keys: tuple[str, str], body: bytes
    ) -> tuple[int, str | None, str | None]:
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json;odata=nometadata",
            "DataServiceVersion": "3.0",
            "MaxDataServiceVersion": "3.0;NetFx",
            "x-ms-version": self._api_version,
            "x-ms-date": formatdate(usegmt=True),
            "x-ms-client-request-id": str(uuid.uuid4()),
        }
        url = await self._authorize(self._entity_url(keys), headers)
        async with self._client().put(
            url, data=body, headers=headers, proxy=self._proxy, ssl=self._tls
        ) as response:
            code = response.headers.get("x-ms-error-code")
            request_id = response.headers.get("x-ms-request-id")
            await response.read()  # the connection goes back to the pool clean
            return response.status, code, request_id

    def _entity_url(self, keys: tuple[str, str]) -> URL:
        """The entity's URL, encoded once per key pair (the heartbeat has one)."""
        url = self._entity_urls.get(keys)
        if url is None:
            partition, row = (key.replace("'", "''") for key in keys)
            path = f"(PartitionKey='{partition}',RowKey='{row}')"
            url = URL(self._table_url + quote(path, safe=_PATH_SAFE), encoded=True)
            self._entity_urls[keys] = url
        return url

    async def _authorize(self, url: URL, headers: dict[str, str]) -> URL:
        """Sign the request for the credential's kind; return the URL to send."""
        credential = self._credential
        if isinstance(credential, AzureNamedKeyCredential):
            name, key = credential.named_key
            resource = f"/{name}{url.raw_path}"
            to_sign = (
                f"PUT\n\n{headers['Content-Type']}\n{headers['x-ms-date']}\n{resource}"
            )
            digest = hmac.new(_key_bytes(key), to_sign.encode(), hashlib.sha256)
            signature = base64.b64encode(digest.digest()).decode()
            headers["Authorization"] = f"SharedKey {name}:{signature}"
            return url
        if isinstance(credential, AzureSasCredential):
            sas = credential.signature.lstrip("?")  # already percent-encoded
            return URL(f"{url}?{sas}", encoded=True)
        if url.scheme != "https":  # as azure-core's bearer policy: never in clear
            raise ServiceRequestError(
                f"A bearer token is sent over HTTPS only, and {self._host} is reached "
                f"over {url.scheme}: use an https:// table endpoint."
            )
        headers["Authorization"] = f"Bearer {await self._bearer_token()}"
        return url

    async def _bearer_token(self) -> str:
        """A token for storage from the credential (the managed identity), kept until
        shortly before it expires; one request for it at a time."""
        if self._token_fresh():
            return self._token.token  # type: ignore[union-attr]
        async with self._token_lock:
            if not self._token_fresh():
                self._token = await self._credential.get_token(STORAGE_SCOPE)
        return self._token.token  # type: ignore[union-attr]

    def _token_fresh(self) -> bool:
        token = self._token
        return token is not None and token.expires_on - time.time() > (
            TOKEN_REFRESH_MARGIN
        )

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # Environment proxies are read once (proxies.py), not per request.
            self._session = aiohttp.ClientSession(
                timeout=self._timeout,
                trust_env=False,
                # Storage sets no cookies and sends nothing compressed here.
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,
                trace_configs=self._trace_configs,
            )
        return self._session

    def _refused(
        self, status: int, code: str | None, request_id: str | None
    ) -> HttpResponseError:
        said = f"HTTP {status}" + (f" {code}" if code else "")
        where = f" (request id {request_id})" if request_id else ""
        message = f"Table storage at {self._host} answered {said}{where}."
        kind = HttpResponseError
        if status == 404:
            kind = ResourceNotFoundError
        elif status in (401, 403):
            kind = ClientAuthenticationError
        error = kind(message)
        error.status_code = status  # the SDK takes it from a response we do not have
        return error


@functools.lru_cache(maxsize=4)
def _key_bytes(key: str) -> bytes:
    """The account key, decoded once (the credential holds it as base64 text)."""
    try:
        return base64.b64decode(key, validate=True)
    except ValueError as error:
        raise ClientAuthenticationError(
            "The storage account key in the connection string is not valid base64; "
            "copy it again from the storage account's Access keys."
        ) from error
