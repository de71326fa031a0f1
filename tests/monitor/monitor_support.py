"""Helpers the monitor's tests import (conftest.py holds the fixtures)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from lvmbeat_local.dev.smtp import SmtpServer


START = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


class FakeClock:
    """A clock the test moves; every component of one scenario shares it."""

    def __init__(self, start: datetime = START) -> None:
        self.moment = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self.moment

    def advance(self, **delta: float) -> datetime:
        with self._lock:
            self.moment += timedelta(**delta)
            return self.moment


def monitor_settings(connection_string: str, table_name: str) -> dict[str, str]:
    """A monitor's settings on one table of a table service; callers add the email
    backend and their timings. The monitor tests (fixture `monitor_env`) and the
    fault drills (bench/drills/) start from these."""
    return {
        "LVMBEAT_STORAGE_CONNECTION_STRING": connection_string,
        "LVMBEAT_TABLE_NAME": table_name,
        "LVMBEAT_SEND_EMAIL_AFTER": "60",
        "LVMBEAT_CHECK_SCHEDULE": "*/10 * * * * *",
        "LVMBEAT_SITE_NAME": "LCO",
        "LVMBEAT_EMAIL_FROM_ADDRESS": "lvmbeat monitor <lvmbeat@monitor.test>",
        "LVMBEAT_EMAIL_RECIPIENTS": (
            "LVM Critical <lvm-critical@lco.test>, ops@lco.test"
        ),
        "LVMBEAT_EMAIL_REPLY_TO": "LVM Ops <ops@lco.test>",
    }


def smtp_env(server: SmtpServer) -> dict[str, str]:
    return {
        "LVMBEAT_EMAIL_BACKEND": "smtp",
        "LVMBEAT_EMAIL_HOST": server.host,
        "LVMBEAT_EMAIL_PORT": str(server.port),
        "LVMBEAT_EMAIL_TLS": "false",
    }
