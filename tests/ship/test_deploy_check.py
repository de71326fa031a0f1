"""The deploy workflow's last step, run for real against the monitor.

Azure is out of reach, so `verify_deployment.py` runs here against the repository's
function app served by the local host on Azurite: the same `/version` and `/status`
routes, anonymous as in Azure. It must pass for the version in VERSION and fail, saying
what it saw, for any other or when nothing answers.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from ship_support import REPO_ROOT, SCRIPTS, version

from lvmbeat_local.dev.ports import free_port
from lvmbeat_local.host.process import HostProcess, start_host_process


QUIET_SCHEDULE = "0 0 0 1 1 *"  # once a year: no check runs during the test
# The monitor refuses a silence threshold shorter than two check periods.
QUIET_GRACE = str(3 * 366 * 24 * 3600)


@pytest.fixture
def deployed_monitor(azurite, table_name, tmp_path: Path) -> Iterator[HostProcess]:
    """The real function_app/ on the local host, as a stand-in for the Azure app."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("LVMBEAT_")
    } | {
        "LVMBEAT_STORAGE_CONNECTION_STRING": azurite.connection_string,
        "LVMBEAT_TABLE_NAME": table_name,
        "LVMBEAT_CHECK_SCHEDULE": QUIET_SCHEDULE,
        "LVMBEAT_SEND_EMAIL_AFTER": QUIET_GRACE,
        "LVMBEAT_EMAIL_BACKEND": "outbox",
        "LVMBEAT_EMAIL_OUTBOX": str(tmp_path / "outbox"),
        "LVMBEAT_EMAIL_RECIPIENTS": "lvm-critical@localhost",
        "LVMBEAT_EMAIL_FROM_ADDRESS": "lvmbeat@localhost",
    }
    host = start_host_process(
        app_dir=REPO_ROOT / "function_app",
        env=env,
        inherit_env=False,
        log_path=tmp_path / "host.log",
    )
    yield host
    assert host.stop() == 0, host.log_text()


def verify(base_url: str, expected: str, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            str(SCRIPTS / "verify_deployment.py"),
            base_url,
            expected,
            *options,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_it_passes_when_the_monitor_answers_the_released_version(deployed_monitor):
    result = verify(deployed_monitor.url, version(), "--attempts", "3")
    assert result.returncode == 0, result.stderr
    assert f"runs {version()}" in result.stdout


def test_it_fails_naming_both_versions_when_the_old_code_still_answers(
    deployed_monitor,
):
    result = verify(deployed_monitor.url, "99.0.0", "--attempts", "2", "--interval=0")
    assert result.returncode == 1
    assert f"/version answers '{version()}', expected '99.0.0'" in result.stderr
    assert "attempt 2/2" in result.stderr


def test_it_fails_when_nothing_answers():
    nobody = f"http://127.0.0.1:{free_port()}"
    result = verify(nobody, version(), "--attempts", "2", "--interval", "0")
    assert result.returncode == 1
    assert "failed" in result.stderr
    assert f"not serving {version()}" in result.stderr
