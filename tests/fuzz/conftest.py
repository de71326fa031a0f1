"""Fixtures for the fuzz tests: the monitor's functions loaded fresh, a monitor on a
fresh Azurite table with the outbox mail backend, and one local host per module.

Hypothesis runs many examples inside one test call, so everything here is module
scoped: one table, one host process, reused by every example.
"""

from __future__ import annotations

import json
import os
import re
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lvmbeat_local.dev.azurite import AzuriteTables
from lvmbeat_local.dev.ports import free_port
from lvmbeat_local.host.keys import KEY_SETTING
from lvmbeat_local.host.process import HostProcess, start_host_process
from lvmbeat_monitor import runtime
from lvmbeat_monitor.service import MonitorService
from lvmbeat_monitor.settings import load_settings
from lvmbeat_monitor.state import AzureTableStore


TESTS = Path(__file__).resolve().parents[1]
FUNCTION_APP_DIR = TESTS.parent / "function_app"
# host_support.load_app_module: a fresh function_app, since azure-functions refuses a
# second get_functions() on one app object.
if str(TESTS / "host") not in sys.path:
    sys.path.insert(0, str(TESTS / "host"))

from host_support import load_app_module  # noqa: E402


# How each line of the host's log begins; anything else was written by a request.
LOG_RECORD = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ ")

# Once a year: no timer run interferes with the requests.
QUIET_SCHEDULE = "0 0 0 1 1 *"
# A grace must span two check periods (settings.py); with a yearly timer, two years.
QUIET_GRACE = str(2 * 366 * 24 * 3600)


@dataclass(frozen=True)
class Secrets:
    """What must never appear in an answer."""

    function_key: str
    connection_string: str

    @property
    def account_key(self) -> str:
        parts = dict(
            part.split("=", 1) for part in self.connection_string.split(";") if part
        )
        return parts["AccountKey"]

    def all(self) -> tuple[str, ...]:
        return (self.function_key, self.account_key, self.connection_string)


@pytest.fixture(scope="module")
def secrets(azurite: AzuriteTables) -> Secrets:
    return Secrets("fuzz-key-" + uuid.uuid4().hex, azurite.connection_string)


@pytest.fixture(scope="module")
def fuzz_env(
    azurite: AzuriteTables, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """Monitor settings on a fresh table; mail goes to an outbox folder."""
    return {
        "LVMBEAT_STORAGE_CONNECTION_STRING": azurite.connection_string,
        "LVMBEAT_TABLE_NAME": "fuzz" + uuid.uuid4().hex[:16],
        "LVMBEAT_SEND_EMAIL_AFTER": QUIET_GRACE,
        "LVMBEAT_CHECK_SCHEDULE": QUIET_SCHEDULE,
        "LVMBEAT_SITE_NAME": "LCO",
        "LVMBEAT_EMAIL_BACKEND": "outbox",
        "LVMBEAT_EMAIL_OUTBOX": str(tmp_path_factory.mktemp("outbox")),
        "LVMBEAT_EMAIL_FROM_ADDRESS": "lvmbeat monitor <lvmbeat@monitor.test>",
        "LVMBEAT_EMAIL_RECIPIENTS": "LVM Critical <lvm-critical@lco.test>",
    }


@pytest.fixture(scope="module")
def http_functions() -> dict[str, tuple[Callable, dict]]:
    """Each HTTP function of function_app: name -> (user function, trigger binding)."""
    module = load_app_module(FUNCTION_APP_DIR, f"fuzz_function_app_{uuid.uuid4().hex}")
    found = {}
    for function in module.app.get_functions():
        trigger = json.loads(function.get_raw_bindings()[0])
        if trigger["type"] == "httpTrigger":
            found[function.get_function_name()] = (
                function.get_user_function(),
                trigger,
            )
    return found


@pytest.fixture(scope="module")
def monitor_service(fuzz_env: dict[str, str]) -> MonitorService:
    """A monitor on the fuzz table, as function_app builds it from its settings."""
    settings = load_settings(fuzz_env)
    return MonitorService(settings, AzureTableStore.from_settings(settings))


@pytest.fixture(scope="module")
def unreachable_service(
    fuzz_env: dict[str, str], azurite: AzuriteTables
) -> MonitorService:
    """A monitor whose Table Storage does not answer (a closed loopback port); the
    account key is the real one, so an answer that leaks it is caught."""
    closed = f"http://127.0.0.1:{free_port()}/devstoreaccount1"
    connection = azurite.connection_string.replace(azurite.endpoint, closed)
    settings = load_settings(
        {**fuzz_env, "LVMBEAT_STORAGE_CONNECTION_STRING": connection}
    )
    store = AzureTableStore.from_settings(settings, retry_total=0)
    return MonitorService(settings, store)


@pytest.fixture
def install() -> Iterator[Callable[[MonitorService], None]]:
    """Install the service function_app's triggers use; removed after the test."""
    yield runtime.use
    runtime.use(None)


@pytest.fixture(scope="module")
def fuzz_host(
    fuzz_env: dict[str, str],
    secrets: Secrets,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[HostProcess]:
    """`lvmbeat monitor serve` over the real function_app, with a function key; one
    per module. It must stop cleanly and never have logged a traceback."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("LVMBEAT_")}
    log_path = tmp_path_factory.mktemp("host") / "host.log"
    host = start_host_process(
        app_dir=FUNCTION_APP_DIR,
        env={**base, **fuzz_env, KEY_SETTING: secrets.function_key},
        inherit_env=False,
        log_path=log_path,
    )
    yield host
    code = host.stop()
    log = host.log_text()
    assert code == 0, f"the host did not stop cleanly ({code}):\n{log}"
    assert "Traceback" not in log, f"the host logged a traceback:\n{log}"
    assert secrets.function_key not in log, "the host logged the function key"
    forged = [line for line in log.splitlines() if not LOG_RECORD.match(line)]
    assert not forged, f"log lines that are no log record (a request's text?): {forged}"
