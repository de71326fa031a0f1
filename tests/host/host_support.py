"""Constants and helpers the host tests share (importable, unlike conftest)."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType


SAMPLE_APP = Path(__file__).parent / "apps" / "sample"
SAMPLE_KEY = "local-test-key-0123456789"
# Once a year: the sample timer stays quiet unless a test gives it a schedule.
QUIET_SCHEDULE = "0 0 0 1 1 *"


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
