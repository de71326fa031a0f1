"""Waiting on a condition by polling it, for tests and the fault drills alike
(bench/drills/ put tests/ on their path): readiness is polled, never slept for."""

from __future__ import annotations

import time
from collections.abc import Callable

from typing import TypeVar


T = TypeVar("T")


def wait_until(
    probe: Callable[[], T], *, what: str, timeout: float = 20.0, every: float = 0.05
) -> T:
    """Poll `probe` until it returns something truthy, and return that. TimeoutError
    naming `what` when it has not within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)
