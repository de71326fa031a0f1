"""Fixtures for the status page's browser tests (test_monitor_page_browser.py).

A real monitor over Azurite, served by the local Functions host, seen in Chromium.

The host runs in this process, on its own event loop in a thread, so the test can
drive the monitor's clock (an outage three days ago, a window yesterday) and then
look at the page through Debian's Chromium, driven by Selenium through
/usr/bin/chromedriver (scripts/ensure_chromium.sh installs both; no download).
Screenshots go to test-artifacts/page/ (git-ignored), and their paths are printed.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path

from typing import Any

import pytest
from monitor_support import FakeClock, smtp_env
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

import function_app
from lvmbeat_local.dev.ports import free_port, port_is_open
from lvmbeat_local.dev.smtp import SmtpServer
from lvmbeat_local.host.server import HostOptions, prepare, serve
from lvmbeat_monitor import runtime
from lvmbeat_monitor.service import MonitorService
from lvmbeat_monitor.settings import load_settings
from lvmbeat_monitor.state import AzureTableStore


REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts" / "page"
# Debian's chromium and its driver (scripts/ensure_chromium.sh installs them), or the
# pair these variables name: a GitHub runner has Google Chrome with its matching
# ChromeDriver instead (.github/workflows/test.yml sets them).
BROWSER_SETTING = "LVMBEAT_TEST_BROWSER"
CHROMEDRIVER_SETTING = "LVMBEAT_TEST_CHROMEDRIVER"
CHROMIUM = Path(os.environ.get(BROWSER_SETTING) or "/usr/bin/chromium")
CHROMEDRIVER = Path(os.environ.get(CHROMEDRIVER_SETTING) or "/usr/bin/chromedriver")


class LoopThread:
    """An event loop in a thread: the monitor's storage clients (aiohttp) stay bound
    to the loop they first ran on, and the host serves on it too."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, Any], timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@dataclass
class PageHost:
    url: str
    service: MonitorService
    clock: FakeClock
    loop: LoopThread
    smtp: SmtpServer

    def run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return self.loop.run(coroutine)


@pytest.fixture
def page_host(monitor_env, smtp_server, monkeypatch) -> Iterator[PageHost]:
    """The repository's function app on the local host, on a fresh table, with a
    monitor whose clock the test moves. No timer runs: the test checks when it
    means to."""
    env = {**monitor_env, **smtp_env(smtp_server)}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    loop = LoopThread()
    clock = FakeClock()
    settings = load_settings(env)

    async def build() -> MonitorService:
        return MonitorService(
            settings, AzureTableStore.from_settings(settings), clock=clock
        )

    service = loop.run(build())
    runtime.use(service)
    # azure-functions indexes an app once; other tests may have asked it already.
    function_app.app.functions_bindings = None
    port = free_port()
    prepared = prepare(HostOptions(port=port, app_dir=REPO_ROOT / "function_app"))
    prepared.timers.clear()
    stop = asyncio.Event()
    serving = asyncio.run_coroutine_threadsafe(serve(prepared, stop), loop.loop)
    # Ready when it accepts connections (polled, as tests/host's fixtures do).
    deadline = time.monotonic() + 30
    while not port_is_open("127.0.0.1", port, timeout=0.2):
        if serving.done():
            serving.result()  # raises the host's error
        assert time.monotonic() < deadline, "the local host did not start listening"
        time.sleep(0.05)
    try:
        yield PageHost(f"http://127.0.0.1:{port}", service, clock, loop, smtp_server)
    finally:
        loop.loop.call_soon_threadsafe(stop.set)
        serving.result(60)
        runtime.use(None)
        loop.close()


PHONE_WIDTH, PHONE_HEIGHT = 375, 812


def phone_viewport(driver: webdriver.Chrome, *, height: int = PHONE_HEIGHT) -> None:
    """A phone's viewport (375 CSS px wide): a headless window cannot be narrower
    than 500 px, so the DevTools protocol's device metrics set it."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {
            "width": PHONE_WIDTH,
            "height": height,
            "deviceScaleFactor": 1,
            "mobile": True,
        },
    )


@pytest.fixture(scope="session")
def browser() -> Iterator[webdriver.Chrome]:
    """Headless Chromium at phone width (375 CSS px), as a person on call sees it."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} missing: run scripts/ensure_chromium.sh (make test "
            "does), which installs Debian's chromium and chromium-driver, or name a "
            f"Chrome and its matching ChromeDriver in {BROWSER_SETTING} and "
            f"{CHROMEDRIVER_SETTING}."
        )
    options = Options()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",  # root in a container has no user namespace for the sandbox
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=500,812",
        "--force-device-scale-factor=1",
        "--hide-scrollbars",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    phone_viewport(driver)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def screenshot(browser) -> Iterator[Any]:
    """Save the whole page as test-artifacts/page/<name>.png and print its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def save(name: str) -> Path:
        height = browser.execute_script("return document.documentElement.scrollHeight")
        phone_viewport(browser, height=max(PHONE_HEIGHT, int(height)))
        path = ARTIFACTS / f"{name}.png"
        try:
            assert browser.save_screenshot(str(path)), f"no screenshot at {path}"
        finally:
            phone_viewport(browser)
        print(f"screenshot: {path}")
        return path

    yield save
