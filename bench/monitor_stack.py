"""The monitor as users run it, for the monitor benches: Azurite's table service and
`lvmbeat monitor serve` (a child process) with a function key and an email backend.

Everything listens on 127.0.0.1 and is stopped on exit; each bench states only the
settings it cares about (schedule, grace, email backend).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from lvmbeat_local.dev.azurite import (
    DEV_ACCOUNT,
    DEV_KEY,
    AzuriteTables,
    start_azurite_tables,
)
from lvmbeat_local.dev.ports import free_port, wait_for_port
from lvmbeat_local.host.process import HostProcess, start_host_process


# The benches import the local stand-ins from here, so one file follows them when
# they move.
__all__ = ["DEV_ACCOUNT", "DEV_KEY", "free_port", "wait_for_port"]


@dataclass
class MonitorStack:
    host: HostProcess
    key: str

    @property
    def url(self) -> str:
        return self.host.url

    @property
    def headers(self) -> dict[str, str]:
        return {"x-functions-key": self.key}


def monitor_env(
    connection_string: str, key: str, workdir: Path, **settings: str
) -> dict[str, str]:
    """Settings of a local monitor: the outbox in `workdir`, production defaults for
    the schedule and grace unless `settings` (LVMBEAT_* names) say otherwise."""
    env = {
        "LVMBEAT_STORAGE_CONNECTION_STRING": connection_string,
        "LVMBEAT_FUNCTION_KEY": key,
        "LVMBEAT_EMAIL_BACKEND": "outbox",
        "LVMBEAT_EMAIL_OUTBOX": str(workdir / "outbox"),
        "LVMBEAT_EMAIL_RECIPIENTS": "LVM Critical Alerts <lvm-critical@localhost>",
        "LVMBEAT_EMAIL_FROM_ADDRESS": "lvmbeat monitor <lvmbeat@localhost>",
        "LVMBEAT_SEND_EMAIL_AFTER": "300",
        "LVMBEAT_CHECK_SCHEDULE": "*/30 * * * * *",
    }
    env.update(settings)
    return env


@contextmanager
def running_azurite() -> Iterator[AzuriteTables]:
    azurite = start_azurite_tables()
    try:
        yield azurite
    finally:
        azurite.stop()


@contextmanager
def running_host(
    workdir: Path,
    connection_string: str,
    *,
    app_dir: Path | None = None,
    **settings: str,
) -> Iterator[MonitorStack]:
    """The host on the given table service, with a fresh key, stopped by SIGTERM;
    `app_dir` serves another checkout's function_app/ (a before/after comparison)."""
    key = secrets.token_urlsafe(24)
    env = monitor_env(connection_string, key, workdir, **settings)
    host = start_host_process(log_path=workdir / "host.log", env=env, app_dir=app_dir)
    try:
        yield MonitorStack(host, key)
    finally:
        host.stop()


def settings_text(settings: Mapping[str, str]) -> str:
    """`A=1`, `B=2` for the docs (never called with secrets)."""
    return ", ".join(f"`{name}={value}`" for name, value in settings.items())
