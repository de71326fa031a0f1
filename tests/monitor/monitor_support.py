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


def smtp_env(server: SmtpServer) -> dict[str, str]:
    return {
        "LVMBEAT_EMAIL_BACKEND": "smtp",
        "LVMBEAT_EMAIL_HOST": server.host,
        "LVMBEAT_EMAIL_PORT": str(server.port),
        "LVMBEAT_EMAIL_TLS": "false",
    }
