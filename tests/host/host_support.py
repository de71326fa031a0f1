"""Constants and helpers the host tests share (importable, unlike conftest)."""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType

from lvmbeat_local.host.process import HostProcess, start_host_process


SAMPLE_APP = Path(__file__).parent / "apps" / "sample"
SAMPLE_KEY = "local-test-key-0123456789"
# Once a year: the sample timer stays quiet unless a test gives it a schedule.
QUIET_SCHEDULE = "0 0 0 1 1 *"
# A developer's own settings must not steer a host that a test or a drill starts.
FOREIGN_SETTINGS = ("LVMBEAT_", "AzureWebJobs", "AZURE_", "SAMPLE_")


def launch_host(
    settings: Mapping[str, str],
    log_path: Path,
    *,
    app_dir: Path | None = None,
    options: Sequence[str] = (),
) -> HostProcess:
    """`lvmbeat monitor serve` in its own process on a free loopback port, once it
    listens: this process's environment without any FOREIGN_SETTINGS, plus
    `settings`. Tests and bench/drills/ start their hosts with this."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(FOREIGN_SETTINGS)}
    return start_host_process(
        app_dir=app_dir,
        env={**base, **settings},
        inherit_env=False,
        log_path=log_path,
        options=options,
    )


def write_local_settings(app_dir: Path, values: Mapping[str, str]) -> None:
    document = {"IsEncrypted": False, "Values": dict(values)}
    (app_dir / "local.settings.json").write_text(json.dumps(document, indent=2))


def load_app_module(app_dir: Path, module_name: str) -> ModuleType:
    """An app's function_app.py as a fresh module under another name.

    azure-functions refuses a second `app.get_functions()` on one app object, and other
    tests of the suite may already have asked the imported `function_app`.
    """
    spec = importlib.util.spec_from_file_location(
        module_name, app_dir / "function_app.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
