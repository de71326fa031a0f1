"""The one MonitorService of this process, built from the settings at first use.

Settings are read when the first request or timer run needs them, never at import
time, so the host can index the functions even when a setting is wrong, and the error
that names the setting reaches the caller. Tests and the local host install their own
service with `use()`.
"""

from __future__ import annotations

import threading

from lvmbeat_monitor.service import MonitorService
from lvmbeat_monitor.settings import load_settings
from lvmbeat_monitor.state import AzureTableStore


_lock = threading.Lock()
_service: MonitorService | None = None


def service() -> MonitorService:
    """The process's service, built on first use from the environment."""
    global _service
    with _lock:
        if _service is None:
            settings = load_settings()
            _service = MonitorService(settings, AzureTableStore.from_settings(settings))
        return _service


async def close() -> None:
    """Release the service's connections; the next use builds a new one. The local
    host calls this when it stops."""
    global _service
    with _lock:
        closing, _service = _service, None
    if closing is not None:
        await closing.close()


def use(replacement: MonitorService | None) -> None:
    """Install a service (tests, the local host), or None to rebuild from the
    environment at next use."""
    global _service
    with _lock:
        _service = replacement
