"""App settings as `func start` reads them: the environment, then local.settings.json.

The monitor reads its settings from the environment at first use, so they are applied
to `os.environ` before the app is imported. The environment wins over the file, as it
does with Core Tools.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, MutableMapping
from pathlib import Path

from lvmbeat_local.host.errors import SettingsError


LOCAL_SETTINGS_FILE = "local.settings.json"

# Azure resolves `%NAME%` in binding expressions (a timer's schedule) from app settings.
_SETTING_REFERENCE = re.compile(r"%([^%]+)%")


def read_local_settings(app_dir: Path) -> dict[str, str]:
    """The `Values` of `<app_dir>/local.settings.json`; empty when there is no file."""
    path = app_dir / LOCAL_SETTINGS_FILE
    if not path.exists():
        return {}
    try:
        document = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as error:
        raise SettingsError(
            f"{path} is not readable JSON ({error}); fix it or remove it."
        ) from error
    if not isinstance(document, dict):
        raise SettingsError(f"{path} must hold a JSON object with a 'Values' object.")
    if document.get("IsEncrypted"):
        raise SettingsError(
            f"{path} has IsEncrypted=true; the local host reads plain values only. "
            "Decrypt it (func settings decrypt) or set the values in the environment."
        )
    values = document.get("Values", {})
    if not isinstance(values, dict):
        raise SettingsError(f"{path}: 'Values' must be an object of name: value.")
    settings: dict[str, str] = {}
    for name, value in values.items():
        if isinstance(value, dict | list):
            raise SettingsError(
                f"{path}: setting {name} is a {type(value).__name__}; "
                "app settings are strings."
            )
        settings[name] = "" if value is None else _as_text(value)
    return settings


def _as_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def apply_settings(
    values: Mapping[str, str], environ: MutableMapping[str, str] | None = None
) -> list[str]:
    """Put file values into the environment where it has none; return their names."""
    environ = os.environ if environ is None else environ
    applied = []
    for name, value in values.items():
        if name not in environ:
            environ[name] = value
            applied.append(name)
    return applied


def resolve_references(
    expression: str, environ: Mapping[str, str] | None = None, *, what: str
) -> str:
    """Replace each `%NAME%` with the setting NAME, as Azure does in bindings."""
    environ = os.environ if environ is None else environ

    def lookup(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in environ:
            raise SettingsError(
                f"{what} refers to setting %{name}%, which is not set; set {name} in "
                f"the environment or in {LOCAL_SETTINGS_FILE} 'Values'."
            )
        return environ[name]

    return _SETTING_REFERENCE.sub(lookup, expression)
