"""Fixtures for the local Functions host: an app folder to serve and a host to start.

Hosts run as real subprocesses (`python -m lvmbeat monitor serve`) on free ports and are
reached over real HTTP. Each is stopped with SIGTERM at the end of its test, and a test
fails if a host did not stop cleanly.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import pytest
from host_support import (
    QUIET_SCHEDULE,
    SAMPLE_APP,
    SAMPLE_KEY,
    launch_host,
    write_local_settings,
)
from waits import wait_until

from lvmbeat_local.host.keys import KEY_SETTING
from lvmbeat_local.host.process import HostProcess


@pytest.fixture
def sample_app(tmp_path: Path) -> Path:
    """A private copy of the sample app, with a local.settings.json of its own."""
    app_dir = tmp_path / "app"
    shutil.copytree(SAMPLE_APP, app_dir, ignore=shutil.ignore_patterns("__pycache__"))
    write_local_settings(app_dir, {"SAMPLE_TIMER_SCHEDULE": QUIET_SCHEDULE})
    return app_dir


def _launch(
    app_dir: Path,
    env: Mapping[str, str] | None,
    log_path: Path,
    options: Sequence[str] = (),
) -> HostProcess:
    return launch_host(env or {}, log_path, app_dir=app_dir, options=options)


def _stop_all(hosts: list[HostProcess]) -> None:
    codes = {host.url: host.stop() for host in hosts}
    assert all(code == 0 for code in codes.values()), (
        f"a host did not stop cleanly: {codes}\n"
        + "\n".join(host.log_text() for host in hosts)
    )


@pytest.fixture
def start_host(tmp_path: Path) -> Iterator[Callable[..., HostProcess]]:
    """Start `lvmbeat monitor serve` on an app folder; stopped (SIGTERM) afterwards."""
    started: list[HostProcess] = []

    def start(
        app_dir: Path,
        env: Mapping[str, str] | None = None,
        options: Sequence[str] = (),
    ) -> HostProcess:
        host = _launch(app_dir, env, tmp_path / f"host-{len(started)}.log", options)
        started.append(host)
        return host

    yield start
    _stop_all(started)


@pytest.fixture(scope="module")
def keyed_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostProcess]:
    """One host over the sample app with LVMBEAT_FUNCTION_KEY set, shared by a module's
    read-only tests (starting a host per test would cost a second each)."""
    root = tmp_path_factory.mktemp("keyed")
    app_dir = root / "app"
    shutil.copytree(SAMPLE_APP, app_dir, ignore=shutil.ignore_patterns("__pycache__"))
    write_local_settings(app_dir, {"SAMPLE_TIMER_SCHEDULE": QUIET_SCHEDULE})
    host = _launch(app_dir, {KEY_SETTING: SAMPLE_KEY}, root / "host.log")
    yield host
    _stop_all([host])


# Short limits, so a test sees each one trip without waiting long for it.
STRICT_OPTIONS = ("--request-timeout", "0.5", "--idle-timeout", "0.5")


@pytest.fixture(scope="module")
def strict_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostProcess]:
    """Like keyed_host, with half-second request and idle timeouts."""
    root = tmp_path_factory.mktemp("strict")
    app_dir = root / "app"
    shutil.copytree(SAMPLE_APP, app_dir, ignore=shutil.ignore_patterns("__pycache__"))
    write_local_settings(app_dir, {"SAMPLE_TIMER_SCHEDULE": QUIET_SCHEDULE})
    host = _launch(
        app_dir, {KEY_SETTING: SAMPLE_KEY}, root / "host.log", STRICT_OPTIONS
    )
    yield host
    _stop_all([host])


@pytest.fixture
def eventually() -> Callable[..., object]:
    """Poll `probe` until it returns something truthy; TimeoutError naming `what`."""
    return wait_until
