"""Constants and helpers the host tests share (importable, unlike conftest)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path


SAMPLE_APP = Path(__file__).parent / "apps" / "sample"
SAMPLE_KEY = "local-test-key-0123456789"
# Once a year: the sample timer stays quiet unless a test gives it a schedule.
QUIET_SCHEDULE = "0 0 0 1 1 *"


def write_local_settings(app_dir: Path, values: Mapping[str, str]) -> None:
    document = {"IsEncrypted": False, "Values": dict(values)}
    (app_dir / "local.settings.json").write_text(json.dumps(document, indent=2))
