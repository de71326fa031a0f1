"""Real services for the whole suite: Azurite tables, the local RabbitMQ, SMTP servers.

Each fixture waits for readiness by polling, never by a fixed sleep, and stops what it
started. Tests that need isolation take a fresh table or actor name, never a shared one.
"""

from __future__ import annotations

import ssl
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from lvmbeat_local.dev.azurite import AzuriteTables, start_azurite_tables
from lvmbeat_local.dev.ports import port_is_open
from lvmbeat_local.dev.smtp import SmtpServer, start_smtp_server


REPO_ROOT = Path(__file__).resolve().parents[1]
FUNCTION_APP_DIR = REPO_ROOT / "function_app"

# Tests import `function_app` exactly as the Azure host does: from its folder.
if str(FUNCTION_APP_DIR) not in sys.path:
    sys.path.insert(0, str(FUNCTION_APP_DIR))

RABBITMQ_HOST = "127.0.0.1"
RABBITMQ_PORT = 5672


@pytest.fixture(scope="session")
def azurite() -> Iterator[AzuriteTables]:
    """One in-memory Azurite table service for the session, on a free port."""
    service = start_azurite_tables()
    yield service
    service.stop()


@pytest.fixture
def table_name() -> str:
    """A table name no other test uses (letters and digits, as Azure requires)."""
    return "t" + uuid.uuid4().hex[:20]


@pytest.fixture(scope="session")
def rabbitmq() -> dict[str, object]:
    """Where the local RabbitMQ listens; `make test` makes sure it is up."""
    if not port_is_open(RABBITMQ_HOST, RABBITMQ_PORT, timeout=1.0):
        pytest.fail(
            f"RabbitMQ does not answer at {RABBITMQ_HOST}:{RABBITMQ_PORT}; "
            "run scripts/ensure_rabbitmq.sh (make test does)."
        )
    return {
        "host": RABBITMQ_HOST,
        "port": RABBITMQ_PORT,
        "url": f"amqp://guest:guest@{RABBITMQ_HOST}:{RABBITMQ_PORT}/",
    }


@pytest.fixture
def unique_name() -> str:
    """A short unique suffix for actor names, so parallel runs never collide."""
    return uuid.uuid4().hex[:8]


@pytest.fixture(scope="session")
def tls_authority() -> trustme.CA:
    """A throwaway certificate authority for servers that must speak TLS."""
    return trustme.CA()


@pytest.fixture(scope="session")
def server_tls_context(tls_authority: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_authority.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture
def ca_bundle(tls_authority: trustme.CA, tmp_path: Path) -> Path:
    """PEM file a client can trust to reach the test servers over TLS."""
    path = tmp_path / "ca.pem"
    tls_authority.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A plain SMTP server that records every message."""
    server = start_smtp_server()
    yield server
    server.stop()


@pytest.fixture
def smtp_tls_server(server_tls_context: ssl.SSLContext) -> Iterator[SmtpServer]:
    """An SMTP server that requires STARTTLS and then AUTH, like the ACS relay."""
    server = start_smtp_server(
        tls_context=server_tls_context, username="lvm-monitor", password="s3cret-pw"
    )
    yield server
    server.stop()
