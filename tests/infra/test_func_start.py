"""`func start` as docs/monitor.md describes it: Azurite with blob, queue and table, and
`local.settings.json` copied from function_app/local.settings.json.example.

Core Tools cannot be installed here (it downloads its own binary), so these tests hold
the parts it would read: the example's settings against Core Tools' rules and the
monitor's settings model, and the documented Azurite command against Azurite itself.
"""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.data.tables import TableServiceClient
from bicep_reader import REPO_ROOT

from lvmbeat_local.dev.children import stop_child
from lvmbeat_local.dev.ports import free_port, port_is_open, wait_for_port
from lvmbeat_monitor.settings import EmailBackend, Settings, StorageAuth, load_settings


FUNCTION_APP_DIR = REPO_ROOT / "function_app"
EXAMPLE = FUNCTION_APP_DIR / "local.settings.json.example"
MONITOR_DOC = REPO_ROOT / "docs" / "monitor.md"

# What docs/monitor.md tells people to run, from the repository root.
AZURITE_COMMAND = (
    "npx azurite --silent --location .run/azurite --skipApiVersionCheck "
    "--disableTelemetry"
)
# Azurite's default ports, which UseDevelopmentStorage=true points the host at.
AZURITE_DEFAULT_PORTS = {"blob": 10000, "queue": 10001, "table": 10002}


def example_values() -> dict[str, str]:
    return json.loads(EXAMPLE.read_text())["Values"]


def unknown_monitor_settings(values: dict[str, str]) -> set[str]:
    """LVMBEAT_* names in the example that the monitor's settings model lacks."""
    known = {field.alias for field in Settings.model_fields.values()}
    return {name for name in values if name.startswith("LVMBEAT_")} - known


def test_the_example_is_a_local_settings_file_core_tools_accepts():
    # Core Tools: IsEncrypted false for plain text, and every value under Values a
    # string ("Local settings file", Azure Functions local development docs).
    settings = json.loads(EXAMPLE.read_text())
    assert settings["IsEncrypted"] is False
    values = settings["Values"]
    assert all(isinstance(value, str) for value in values.values()), values
    assert values["FUNCTIONS_WORKER_RUNTIME"] == "python"
    # The host's own storage (keys, the timer's schedule monitor) in Azurite.
    assert values["AzureWebJobsStorage"] == "UseDevelopmentStorage=true"


def test_every_monitor_setting_in_the_example_is_one_the_monitor_reads():
    assert unknown_monitor_settings(example_values()) == set()


def test_the_setting_check_trips_on_a_name_the_monitor_does_not_read():
    values = {**example_values(), "LVMBEAT_EMAIL_SERVER": "smtp.example.org"}
    assert unknown_monitor_settings(values) == {"LVMBEAT_EMAIL_SERVER"}


def test_the_example_configures_a_complete_local_monitor():
    settings = load_settings(example_values())
    # No Azure needed: the table through Azurite's connection string, mail to files.
    assert settings.storage_auth is StorageAuth.CONNECTION_STRING
    assert settings.resolved_email_backend() is EmailBackend.OUTBOX
    assert settings.email_recipients and settings.email_from_address
    connection = settings.storage_connection().get_secret_value()
    table_port = AZURITE_DEFAULT_PORTS["table"]
    assert f"TableEndpoint=http://127.0.0.1:{table_port}/devstoreaccount1" in connection


def test_the_outbox_is_inside_the_repository_where_func_start_runs():
    # func start runs in function_app/, so the relative path is taken from there.
    outbox = (FUNCTION_APP_DIR / example_values()["LVMBEAT_EMAIL_OUTBOX"]).resolve()
    assert outbox.is_relative_to(REPO_ROOT)
    assert outbox.is_relative_to(REPO_ROOT / ".run")  # git-ignored


def test_the_docs_start_azurite_with_blob_queue_and_table():
    text = MONITOR_DOC.read_text()
    assert AZURITE_COMMAND in text
    assert "cp local.settings.json.example local.settings.json" in text
    assert "pip install -r requirements.txt" in text


@pytest.fixture
def documented_azurite(tmp_path: Path) -> Iterator[dict[str, int]]:
    """The documented Azurite command, on free ports and a private folder."""
    args = shlex.split(AZURITE_COMMAND)
    assert args[:2] == ["npx", "azurite"]
    launcher = REPO_ROOT / "node_modules" / ".bin" / "azurite"
    location = args.index("--location")
    args[location + 1] = str(tmp_path / "azurite")
    (tmp_path / "azurite").mkdir()
    ports = {service: free_port() for service in AZURITE_DEFAULT_PORTS}
    for service, port in ports.items():
        args += [f"--{service}Port", str(port)]
    log = tmp_path / "azurite.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(launcher), *args[2:]],
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=tmp_path,
        )
    try:
        for service, port in ports.items():
            wait_for_port(
                "127.0.0.1",
                port,
                timeout=60,
                what=f"Azurite {service} (log: {log})",
                alive=lambda: process.poll() is None,
            )
        yield ports
    finally:
        stop_child(process, signal.SIGINT, timeout=10)


def test_the_documented_azurite_serves_what_the_host_and_the_monitor_use(
    documented_azurite: dict[str, int],
):
    # Blob for the host's keys and the timer listener, queue for the host's default
    # connection, table for the monitor's state.
    for port in documented_azurite.values():
        assert port_is_open("127.0.0.1", port)
    connection = (
        load_settings(example_values())
        .storage_connection()
        .get_secret_value()
        .replace(
            f":{AZURITE_DEFAULT_PORTS['table']}/",
            f":{documented_azurite['table']}/",
        )
    )
    service = TableServiceClient.from_connection_string(connection)
    table = service.create_table_if_not_exists("t" + uuid.uuid4().hex[:20])
    table.upsert_entity({"PartitionKey": "lvmbeat", "RowKey": "heartbeat"})
    assert table.get_entity("lvmbeat", "heartbeat")["RowKey"] == "heartbeat"
