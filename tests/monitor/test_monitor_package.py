"""`make package` builds the zip Azure deploys, and requirements.txt covers it."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import zipfile
from datetime import timedelta
from importlib import metadata
from pathlib import Path


REPO_ROOT = Path(__file__).resolve().parents[2]
FUNCTION_APP = REPO_ROOT / "function_app"


def test_the_package_holds_the_app_and_nothing_else(tmp_path):
    # A stray cache and local settings must not leak into the deployment.
    cache = FUNCTION_APP / "lvmbeat_monitor" / "__pycache__"
    cache.mkdir(exist_ok=True)
    output = tmp_path / "function_app.zip"
    subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "scripts/package_function_app.py"),
            "--output",
            str(output),
        ],
        check=True,
        capture_output=True,
    )
    names = set(zipfile.ZipFile(output).namelist())
    package = {
        f"lvmbeat_monitor/{path.name}"
        for path in (FUNCTION_APP / "lvmbeat_monitor").glob("*.py")
    }
    # VERSION travels with the package: the deployed app reads its version from it.
    expected = {"function_app.py", "host.json", "requirements.txt"} | package
    assert names == expected | {"lvmbeat_monitor/VERSION"}


def pinned_requirements() -> dict[str, str]:
    pins = {}
    for line in (FUNCTION_APP / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"{line!r} in requirements.txt is not pinned with =="
            pins[name.lower()] = version
    return pins


def imported_distributions() -> set[str]:
    """Third-party distributions the deployed code imports."""
    modules = set()
    for path in [FUNCTION_APP / "function_app.py", *FUNCTION_APP.rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                modules.add(node.module)
    distributions = set()
    for module in modules:
        top = module.split(".")[0]
        if top in sys.stdlib_module_names or top in {"lvmbeat_monitor", "function_app"}:
            continue
        if top == "azure":  # a namespace: azure.data.tables -> azure-data-tables
            parts = module.split(".")
            for size in (3, 2):
                name = "-".join(parts[:size])
                try:
                    metadata.distribution(name)
                except metadata.PackageNotFoundError:
                    continue
                distributions.add(name)
                break
            continue
        distributions.update(
            name.lower() for name in metadata.packages_distributions()[top]
        )
    return distributions


def test_requirements_pin_every_package_the_app_imports():
    pins = pinned_requirements()
    imported = imported_distributions()
    assert {"azure-data-tables", "azure-communication-email", "pydantic"} <= imported
    assert imported <= set(pins), f"not pinned: {sorted(imported - set(pins))}"


def test_requirements_pin_azure_functions_1x_for_python_312():
    assert re.fullmatch(r"1\.\d+\.\d+", pinned_requirements()["azure-functions"])


def test_requirements_match_what_the_tests_ran_against():
    for name, version in pinned_requirements().items():
        assert metadata.version(name) == version, name


def test_the_actor_and_the_monitor_report_one_version():
    # One home for the version (function_app/lvmbeat_monitor/VERSION): the installed
    # distribution, hence the actor and its image, reads the same file.
    from lvmbeat import __version__ as actor_version
    from lvmbeat_monitor import __version__ as monitor_version

    home = (FUNCTION_APP / "lvmbeat_monitor" / "VERSION").read_text().strip()
    assert re.fullmatch(r"\d+\.\d+\.\d+", home), f"VERSION holds {home!r}"
    assert actor_version == monitor_version == home == metadata.version("lvmbeat")


def test_no_claimer_can_still_be_sending_when_its_lease_ends():
    # Azure stops an invocation at host.json's functionTimeout; a claim lease longer
    # than that (plus a margin) means a checker that lost its claim by timeout is no
    # longer sending when another takes over. Each send's deadline sits well below.
    from lvmbeat_monitor.decide import CLAIM_LEASE, SEND_DEADLINE

    host = json.loads((FUNCTION_APP / "host.json").read_text())
    hours, minutes, seconds = (int(part) for part in host["functionTimeout"].split(":"))
    timeout = timedelta(hours=hours, minutes=minutes, seconds=seconds)
    assert CLAIM_LEASE >= timeout + timedelta(seconds=30)
    assert SEND_DEADLINE * 2 <= timeout
