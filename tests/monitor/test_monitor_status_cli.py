"""`lvmbeat monitor status`: the page's facts in a terminal, with an exit status
scripts can use, against a real monitor on the local host (browser_support)."""

# ruff: noqa: F811 - fixtures imported from browser_support are the tests' parameters

from __future__ import annotations

import subprocess
import sys

import pytest
from browser_support import page_host  # noqa: F401 - fixture

from lvmbeat_local.dev.ports import free_port
from lvmbeat_monitor.service import CheckFailed


def monitor_status(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lvmbeat", "monitor", "status", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_it_says_up_and_exits_0_while_heartbeats_arrive(page_host):
    async def up() -> None:
        await page_host.service.heartbeat()
        await page_host.service.check()
        page_host.clock.advance(seconds=4)

    page_host.run(up())
    result = monitor_status("--url", page_host.url)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "LCO internet link: up"
    assert lines[1] == (
        "Last heartbeat:  2026-03-01 12:00:00 UTC (09:00:00 Chile) (4 s ago)"
    )
    assert "Channel email:    nothing pending" in lines
    assert "Last 30 days: 0 outage(s), 0 maintenance window(s)" in lines
    assert lines[-1] == f"Page: {page_host.url}/"


def test_it_says_down_and_exits_1_during_an_outage(page_host):
    page_host.smtp.sink.fail_next = 1000  # the alert stays pending

    async def down() -> None:
        await page_host.service.heartbeat()
        await page_host.service.check()
        for _ in range(7):
            page_host.clock.advance(seconds=10)
            try:
                await page_host.service.check()
            except CheckFailed:
                pass  # the relay refused the alert: it waits, as the page shows

    page_host.run(down())
    result = monitor_status("--url", page_host.url)
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "LCO internet link: DOWN since 2026-03-01 12:00:00 UTC (09:00:00 Chile), "
        "for 1 min 10 s"
    )
    assert "Channel email:    down notice pending, last error: refused" in lines
    assert any(
        line.startswith("  outage from 2026-03-01 12:00:00 UTC; ongoing")
        for line in lines
    )


@pytest.mark.parametrize("how", ["--url", "env"])
def test_it_exits_3_naming_the_address_when_the_monitor_cannot_be_reached(how):
    address = f"http://127.0.0.1:{free_port()}"
    if how == "--url":
        result = monitor_status("--url", address)
    else:
        import os

        env = {**os.environ, "LVMBEAT_OUTSIDE_MONITOR_URL": f"{address}/heartbeat"}
        result = monitor_status(env=env)
    assert result.returncode == 3
    assert f"Could not reach the monitor at {address}/status" in result.stderr
    assert "--url" in result.stderr and result.stdout == ""
