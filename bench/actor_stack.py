"""The actor as deployed, for the actor bench and the actor drills: its config on
loopback, `lvmbeat actor start --debug` and `lvmbeat simulate ecp` in their own
processes, their output read line by line with the time each line came.

Network checks go to loopback only (the tests' `loopback_checks`): nothing here talks
to anything but 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from pathlib import Path

from typing import Any

import yaml

from lvmbeat.simulator import HEARTBEAT_WRITTEN
from lvmbeat_local.dev.children import stop_child


TESTS_ACTOR = Path(__file__).resolve().parents[1] / "tests" / "actor"
if str(TESTS_ACTOR) not in sys.path:
    sys.path.insert(0, str(TESTS_ACTOR))

from actor_support import loopback_checks  # noqa: E402 - tests/actor joins the path


BROKER_HOST = "127.0.0.1"
BROKER_PORT = 5672


class OutputWatcher:
    """Reads a child's output in a thread; each line kept with its monotonic time.

    `time.monotonic()` is CLOCK_MONOTONIC, the same clock in every process of the
    machine, so times read here compare with the drill's own.
    """

    def __init__(self, process: subprocess.Popen[str], echo_prefix: str | None = None):
        self.process = process
        self.echo_prefix = echo_prefix
        self.lines: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._lock:
                self.lines.append((time.monotonic(), line.rstrip("\n")))
            if self.echo_prefix is not None:
                print(f"{self.echo_prefix} {line.rstrip()}", flush=True)

    def matching(self, text: str, since: float = 0.0) -> list[tuple[float, str]]:
        with self._lock:
            return [
                (at, line) for at, line in self.lines if text in line and at >= since
            ]

    async def wait_for(self, text: str, timeout: float, since: float = 0.0) -> float:
        """The time of the first line containing ``text`` (after ``since``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.matching(text, since)
            if found:
                return found[0][0]
            if self.process.poll() is not None:
                raise ActorStackError(
                    f"the process exited ({self.process.returncode}) before logging "
                    f"{text!r}; its last lines: {self.tail()}"
                )
            await asyncio.sleep(0.05)
        raise ActorStackError(
            f"no line containing {text!r} within {timeout} s: {self.tail()}"
        )

    def tail(self, count: int = 15) -> str:
        with self._lock:
            return "\n".join(line for _, line in self.lines[-count:])


class ActorStackError(RuntimeError):
    """A process did not do what was waited for: the bench or drill cannot go on
    (as opposed to a measured check that failed)."""


def actor_config(
    workdir: Path,
    name: str,
    *,
    port: int,
    checks_port: int,
    overrides: dict[str, Any] | None = None,
) -> Path:
    """The actor's drill config: production timings unless overridden, loopback only.

    Both network checks point at a loopback listener: the packaged defaults probe
    non-loopback addresses, which a drill must never contact.
    """
    config: dict[str, Any] = {
        "actor": {
            "name": name,
            "host": BROKER_HOST,
            "port": port,
            "log_dir": str(workdir / "logs"),
        },
        "outside_monitor": {"url": None, "key": None},
        "network": {"checks": loopback_checks(checks_port, checks_port)},
    }
    for section, values in (overrides or {}).items():
        if isinstance(values, dict) and isinstance(config.get(section), dict):
            config[section] = {**config[section], **values}
        else:
            config[section] = values
    checks = config["network"]["checks"]
    assert all(check["host"] == BROKER_HOST for check in checks.values()), checks
    path = workdir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def spawn(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "lvmbeat", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


class ActorProcess:
    """`lvmbeat -c CONFIG actor start --debug` in its own process, as deployed."""

    def __init__(self, config: Path, name: str, echo: bool = False):
        self.name = name
        self.process = spawn(["-c", str(config), "actor", "start", "--debug"])
        self.output = OutputWatcher(self.process, f"[{name}]" if echo else None)

    async def connected(self, timeout: float = 60) -> float:
        return await self.output.wait_for(f"Actor '{self.name}' connected", timeout)

    def stop(self) -> None:
        stop_child(self.process)


class EcpProcess:
    """`lvmbeat simulate ecp` in its own process; heartbeat arrivals read from its
    log, the line it writes for each PLC heartbeat (HEARTBEAT_WRITTEN). CLU's own
    "New command received" lines are filtered out of the simulator's terminal."""

    def __init__(self, name: str, dome_timeout: float = 60.0, echo: bool = False):
        self.name = name
        self.process = spawn(
            ["simulate", "ecp", "--name", name, "--host", BROKER_HOST]
            + ["--port", str(BROKER_PORT), "--dome-timeout", str(dome_timeout)]
        )
        self.output = OutputWatcher(self.process, "[lvmecp]" if echo else None)

    def arrivals(self) -> list[float]:
        return [at for at, _ in self.output.matching(HEARTBEAT_WRITTEN)]

    def kill(self) -> None:
        """SIGKILL: no goodbye to the broker, as when the process or its host dies."""
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        stop_child(self.process)
