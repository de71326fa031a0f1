"""The heartbeat's REST write (table_put.py) against a real Azurite, and against local
servers for what Azurite cannot show here (busy answers, a bearer token)."""

from __future__ import annotations

import base64
import dataclasses
import json
import ssl
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trustme
from aiohttp import web
from azure.core.credentials import AccessToken, AzureNamedKeyCredential
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
)
from azure.data.tables import TableSasPermissions, generate_table_sas
from azure.data.tables.aio import TableClient, TableServiceClient
from local_app import serve_route
from monitor_support import monitor_settings

from lvmbeat_local.dev.azurite import AzuriteTables, start_azurite_tables
from lvmbeat_local.dev.ports import free_port
from lvmbeat_monitor.settings import load_settings
from lvmbeat_monitor.state import CLIENT_OPTIONS, AzureTableStore, StorageUnavailable
from lvmbeat_monitor.table_put import (
    ENTRA_MIN_VERSION,
    STORAGE_SCOPE,
    Patience,
    TablePut,
)


# As the monitor waits for storage; tests that fail on purpose wait less.
PATIENCE = Patience.from_sdk_options(CLIENT_OPTIONS)
QUICK = Patience(retries=1, backoff=0.01, connect_timeout=5, read_timeout=10)
TWO_QUICK_RETRIES = dataclasses.replace(QUICK, retries=2)
NO_RETRY = dataclasses.replace(QUICK, retries=0)


@pytest.fixture
async def table(azurite: AzuriteTables, table_name: str):
    """An SDK client on a fresh table (created), for reading back what was written."""
    async with TableServiceClient.from_connection_string(
        azurite.connection_string
    ) as service:
        await service.create_table(table_name)
        yield service.get_table_client(table_name)


async def test_a_write_inserts_then_replaces_the_whole_entity(table: TableClient):
    put = TablePut.for_table(table, PATIENCE)
    try:
        await put.upsert({"PartitionKey": "p", "RowKey": "r", "a": "1", "b": "2"})
        first = await table.get_entity("p", "r")
        await put.upsert({"PartitionKey": "p", "RowKey": "r", "a": "3"})
        second = await table.get_entity("p", "r")
    finally:
        await put.close()
    assert (first["a"], first["b"]) == ("1", "2")
    assert second["a"] == "3" and "b" not in second  # replaced, not merged
    assert second.metadata["etag"] != first.metadata["etag"]


async def test_keys_with_quotes_spaces_and_accents_reach_their_own_entity(
    table: TableClient,
):
    keys = ("O'Brien & co", "día 1 (50%)")
    put = TablePut.for_table(table, PATIENCE)
    try:
        await put.upsert({"PartitionKey": keys[0], "RowKey": keys[1], "v": "x"})
    finally:
        await put.close()
    entity = await table.get_entity(*keys)
    assert entity["v"] == "x"


async def test_a_shared_access_signature_is_sent_as_the_query(
    table: TableClient, azurite: AzuriteTables
):
    name, key = table.credential.named_key
    sas = generate_table_sas(
        AzureNamedKeyCredential(name, key),
        table.table_name,
        permission=TableSasPermissions(add=True, update=True),
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )
    connection = (
        f"TableEndpoint={azurite.endpoint};SharedAccessSignature={sas};"
    )
    async with TableClient.from_connection_string(
        connection, table.table_name
    ) as with_sas:
        put = TablePut.for_table(with_sas, PATIENCE)
        try:
            await put.upsert({"PartitionKey": "p", "RowKey": "sas", "v": "1"})
        finally:
            await put.close()
    assert (await table.get_entity("p", "sas"))["v"] == "1"


async def test_a_wrong_account_key_is_refused_and_never_echoed(
    table: TableClient, azurite: AzuriteTables
):
    wrong_key = base64.b64encode(b"not the account key" * 3).decode()
    name, _ = table.credential.named_key
    wrong = TablePut(
        f"{azurite.endpoint}/{table.table_name}",
        AzureNamedKeyCredential(name, wrong_key),
        table.api_version,
        NO_RETRY,
    )
    try:
        with pytest.raises(ClientAuthenticationError) as refused:
            await wrong.upsert({"PartitionKey": "p", "RowKey": "r"})
    finally:
        await wrong.close()
    assert refused.value.status_code == 403
    assert "HTTP 403" in str(refused.value) and "127.0.0.1" in str(refused.value)
    assert wrong_key not in str(refused.value)


async def test_an_account_key_that_is_not_base64_is_named_before_any_request(
    table: TableClient,
):
    name, _ = table.credential.named_key
    put = TablePut(
        table.url,
        AzureNamedKeyCredential(name, "not base64!"),
        table.api_version,
        PATIENCE,
    )
    with pytest.raises(ClientAuthenticationError, match="not valid base64"):
        await put.upsert({"PartitionKey": "p", "RowKey": "r"})
    await put.close()


async def test_a_table_that_does_not_exist_is_not_found(
    table: TableClient, azurite: AzuriteTables
):
    put = TablePut(
        f"{azurite.endpoint}/nosuchtable{int(time.time())}",
        table.credential,
        table.api_version,
        PATIENCE,
    )
    try:
        with pytest.raises(ResourceNotFoundError, match="TableNotFound"):
            await put.upsert({"PartitionKey": "p", "RowKey": "r"})
    finally:
        await put.close()


async def test_a_closed_port_is_unreachable_after_the_retries(table: TableClient):
    put = TablePut(
        f"http://127.0.0.1:{free_port()}/devstoreaccount1/t",
        table.credential,
        table.api_version,
        QUICK,
    )
    try:
        with pytest.raises(ServiceRequestError, match="after 2 attempts"):
            await put.upsert({"PartitionKey": "p", "RowKey": "r"})
    finally:
        await put.close()


async def test_a_store_with_the_wrong_key_says_storage_refused_its_credentials(
    azurite: AzuriteTables, table_name: str
):
    right_key = azurite.connection_string.split("AccountKey=")[1].split(";")[0]
    wrong_key = base64.b64encode(b"w" * 64).decode()
    env = monitor_settings(
        azurite.connection_string.replace(right_key, wrong_key), table_name
    )
    store = AzureTableStore.from_settings(load_settings(env), retry_total=0)
    try:
        with pytest.raises(StorageUnavailable) as failed:
            await store.record_heartbeat(datetime.now(UTC))
    finally:
        await store.close()
    assert "refused our credentials" in str(failed.value)
    assert table_name in str(failed.value) and wrong_key not in str(failed.value)


# --- answers Azurite does not give on demand: a local server ---------------------


class StorageStandIn:
    """Answers each PUT with the next status of `statuses` (204 once they run out),
    recording the headers it was sent."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.seen: list[dict[str, str]] = []

    async def put(self, request: web.Request) -> web.Response:
        self.seen.append(dict(request.headers))
        await request.read()
        status = self.statuses.pop(0) if self.statuses else 204
        headers = {"x-ms-request-id": f"req-{len(self.seen)}"}
        if status >= 400:
            headers["x-ms-error-code"] = "ServerBusy" if status >= 500 else "Invalid"
        return web.Response(status=status, headers=headers)


@pytest.fixture
def trusting(ca_bundle: Path) -> Patience:
    """The monitor's patience, trusting the test CA (the stand-ins speak HTTPS)."""
    return dataclasses.replace(PATIENCE, verify=str(ca_bundle))


@pytest.fixture
async def stand_in(server_tls_context: ssl.SSLContext):
    servers = []

    async def start(*statuses: int) -> tuple[StorageStandIn, str]:
        server = StorageStandIn(*statuses)
        runner, url = await serve_route("/{path:.*}", server.put, server_tls_context)
        servers.append(runner)
        return server, f"{url}/account/table"

    yield start
    for runner in servers:
        await runner.cleanup()


class CountingCredential:
    """An Entra credential as azure-identity's: get_token(scope) -> AccessToken."""

    def __init__(self, lifetime: float) -> None:
        self.lifetime = lifetime
        self.scopes: list[str] = []

    async def get_token(self, *scopes: str, **kwargs) -> AccessToken:
        self.scopes.extend(scopes)
        return AccessToken(
            f"token-{len(self.scopes)}", int(time.time() + self.lifetime)
        )


async def test_busy_answers_are_retried_and_refusals_are_not(stand_in, trusting):
    busy, url = await stand_in(503, 500)
    quick = dataclasses.replace(TWO_QUICK_RETRIES, verify=trusting.verify)
    put = TablePut(url, CountingCredential(3600), "2019-02-02", quick)
    try:
        await put.upsert({"PartitionKey": "p", "RowKey": "r"})
        assert len(busy.seen) == 3  # 503, 500, then 204

        refusing, url = await stand_in(400)
        put_refused = TablePut(url, CountingCredential(3600), "2019-02-02", trusting)
        with pytest.raises(HttpResponseError) as refused:
            await put_refused.upsert({"PartitionKey": "p", "RowKey": "r"})
        await put_refused.close()
    finally:
        await put.close()
    assert len(refusing.seen) == 1
    assert refused.value.status_code == 400
    assert "HTTP 400 Invalid (request id req-1)" in str(refused.value)


async def test_a_bearer_token_is_reused_and_renewed_before_it_expires(
    stand_in, trusting
):
    server, url = await stand_in()
    lasting = CountingCredential(lifetime=3600)
    put = TablePut(url, lasting, "2019-02-02", trusting)
    try:
        for _ in range(3):
            await put.upsert({"PartitionKey": "p", "RowKey": "r"})
        assert lasting.scopes == [STORAGE_SCOPE]  # one token for the three
        assert {seen["Authorization"] for seen in server.seen} == {"Bearer token-1"}
        assert {seen["x-ms-version"] for seen in server.seen} == {"2019-02-02"}
    finally:
        await put.close()

    short = CountingCredential(lifetime=120)  # inside the renewal margin
    put = TablePut(url, short, "2019-02-02", trusting)
    try:
        await put.upsert({"PartitionKey": "p", "RowKey": "r"})
        await put.upsert({"PartitionKey": "p", "RowKey": "r"})
    finally:
        await put.close()
    assert len(short.scopes) == 2
    assert server.seen[-1]["Authorization"] == "Bearer token-2"


async def test_a_bearer_token_never_goes_over_plain_http(stand_in):
    server, url = await stand_in()
    credential = CountingCredential(lifetime=3600)
    put = TablePut(url.replace("https:", "http:"), credential, "2019-02-02", PATIENCE)
    try:
        with pytest.raises(ServiceRequestError, match="over HTTPS only"):
            await put.upsert({"PartitionKey": "p", "RowKey": "r"})
    finally:
        await put.close()
    assert credential.scopes == [] and server.seen == []  # no token asked, none sent


async def test_a_server_whose_certificate_is_not_trusted_is_not_written_to(stand_in):
    server, url = await stand_in()
    untrusting = dataclasses.replace(QUICK, verify=True)  # the system's CAs only
    put = TablePut(url, CountingCredential(3600), "2019-02-02", untrusting)
    try:
        with pytest.raises(ServiceRequestError, match="Certificate"):
            await put.upsert({"PartitionKey": "p", "RowKey": "r"})
    finally:
        await put.close()
    assert server.seen == []


# --- the managed identity's path, checked by Azurite's own bearer rules ---------


class EntraLikeCredential:
    """Tokens shaped as Microsoft Entra issues them for storage (issuer, audience,
    issue time, lifetime; unsigned, which Azurite's "basic" OAuth level does not
    check)."""

    def __init__(self, lifetime: float) -> None:
        self.lifetime = lifetime
        self.scopes: list[str] = []

    async def get_token(self, *scopes: str, **kwargs) -> AccessToken:
        self.scopes.extend(scopes)
        now = int(time.time())
        claims = {
            "aud": "https://storage.azure.com",
            "iss": "https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/",
            "iat": now - 60,
            "nbf": now - 60,
            "exp": now + int(self.lifetime),
        }
        token = ".".join(
            _base64url(part)
            for part in ({"alg": "RS256", "typ": "JWT"}, claims, "unsigned")
        )
        return AccessToken(token, claims["exp"])


def _base64url(part: object) -> str:
    raw = part.encode() if isinstance(part, str) else json.dumps(part).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def azurite_oauth(tls_authority: trustme.CA, tmp_path_factory):
    """Azurite over HTTPS, taking bearer tokens."""
    folder = tmp_path_factory.mktemp("azurite-oauth")
    issued = tls_authority.issue_cert("127.0.0.1")
    cert, key = folder / "cert.pem", folder / "key.pem"
    issued.cert_chain_pems[0].write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))
    service = start_azurite_tables(tls=(cert, key), oauth=True)
    yield service
    service.stop()


def bearer_store(
    endpoint: str, credential, table_name: str, ca_bundle: Path
) -> AzureTableStore:
    """The store as the managed-identity settings build it, with this credential."""
    options = {**CLIENT_OPTIONS, "connection_verify": str(ca_bundle)}
    service = TableServiceClient(
        endpoint=endpoint, credential=credential, use_env_settings=False, **options
    )
    table = service.get_table_client(table_name)
    put = TablePut.for_table(table, Patience.from_sdk_options(options))
    return AzureTableStore(table, service, put)


async def test_the_version_sent_with_a_token_is_one_the_table_service_takes():
    # Azurite runs with --skipApiVersionCheck, so this rule is checked here: the
    # writer sends the SDK client's version, dates compare as ISO strings.
    async with TableServiceClient(
        endpoint="https://account.table.core.windows.net",
        credential=EntraLikeCredential(lifetime=3600),
    ) as service:
        table = service.get_table_client("lvmbeat")
        assert table.api_version >= ENTRA_MIN_VERSION


async def test_the_managed_identity_path_on_azurites_bearer_checks(
    azurite_oauth: AzuriteTables, table_name: str, ca_bundle: Path
):
    credential = EntraLikeCredential(lifetime=3600)
    store = bearer_store(azurite_oauth.endpoint, credential, table_name, ca_bundle)
    at = datetime(2026, 12, 6, 21, 0, 0, tzinfo=UTC)
    try:
        # The first write finds no table: the SDK creates it, table_put writes.
        await store.record_heartbeat(at)
        await store.record_heartbeat(at + timedelta(seconds=15))
        snapshot = await store.read()
    finally:
        await store.close()
    assert snapshot.last_seen == at + timedelta(seconds=15)
    assert set(credential.scopes) == {STORAGE_SCOPE}


async def test_an_expired_token_is_refused_by_storage_and_said_so(
    azurite_oauth: AzuriteTables, table_name: str, ca_bundle: Path
):
    expired = EntraLikeCredential(lifetime=-60)
    store = bearer_store(azurite_oauth.endpoint, expired, table_name, ca_bundle)
    try:
        with pytest.raises(StorageUnavailable, match="refused our credentials"):
            await store.record_heartbeat(datetime.now(UTC))
    finally:
        await store.close()
