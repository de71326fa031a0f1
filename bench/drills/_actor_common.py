"""Shared parts of the actor fault drills (`bench/drills/actor_*.py`); not a drill.

Each drill runs the real actor in its own process (`lvmbeat actor start --debug`, as
deployed) on the local RabbitMQ, with every network check on a loopback listener the
drill opens, and drives it with CLU clients that time every command. Nothing here
talks to anything but 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from typing import Any

import yaml

from clu import AMQPClient


BENCH_DIR = Path(__file__).resolve().parents[1]
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

from report import (  # noqa: E402 - bench/ joins the path just above
    RELIABILITY_MD,
    REPO_ROOT,
    machine,
    now_utc,
    quantile,
    write_section,
)


__all__ = [
    "RELIABILITY_MD",
    "REPO_ROOT",
    "machine",
    "now_utc",
    "quantile",
    "write_section",
]

BROKER_HOST = "127.0.0.1"
BROKER_PORT = 5672
#: lvmecp polls `lvmbeat status` with this limit; a slower answer counts as wedged.
STATUS_LIMIT = 5.0


def unique(prefix: str) -> str:
    """An actor name nobody else on the shared broker uses."""
    return f"{prefix}_drill_{uuid.uuid4().hex[:6]}"


class LoopbackListener:
    """A TCP listener on 127.0.0.1 for the actor's network checks to connect to."""

    def __init__(self) -> None:
        self.server: asyncio.Server | None = None
        self.port = 0

    async def open(self) -> None:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    @staticmethod
    async def _accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        writer.close()

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None


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
                raise DrillError(
                    f"the process exited ({self.process.returncode}) before logging "
                    f"{text!r}; its last lines: {self.tail()}"
                )
            await asyncio.sleep(0.05)
        raise DrillError(
            f"no line containing {text!r} within {timeout} s: {self.tail()}"
        )

    def tail(self, count: int = 15) -> str:
        with self._lock:
            return "\n".join(line for _, line in self.lines[-count:])


class DrillError(RuntimeError):
    """The drill could not be carried out (as opposed to a check that failed)."""


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
        "network": {
            "checks": {
                "lco": {"method": "tcp", "host": "127.0.0.1", "port": checks_port},
                "outside": {"method": "tcp", "host": "127.0.0.1", "port": checks_port},
            }
        },
    }
    for section, values in (overrides or {}).items():
        if isinstance(values, dict) and isinstance(config.get(section), dict):
            config[section] = {**config[section], **values}
        else:
            config[section] = values
    checks = config["network"]["checks"]
    assert all(check["host"] == "127.0.0.1" for check in checks.values()), checks
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
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class EcpProcess:
    """`lvmbeat simulate ecp` in its own process; heartbeat arrivals read from its
    log ("New command received: '<name> heartbeat'", written when one arrives)."""

    def __init__(self, name: str, dome_timeout: float = 60.0, echo: bool = False):
        self.name = name
        self.process = spawn(
            ["simulate", "ecp", "--name", name, "--host", BROKER_HOST]
            + ["--port", str(BROKER_PORT), "--dome-timeout", str(dome_timeout)]
        )
        self.output = OutputWatcher(self.process, "[lvmecp]" if echo else None)

    def arrivals(self) -> list[float]:
        return [at for at, _ in self.output.matching(f"'{self.name} heartbeat'")]

    def kill(self) -> None:
        """SIGKILL: no goodbye to the broker, as when the process or its host dies."""
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


async def wait_answering(client: AMQPClient, actor: str, timeout: float = 60) -> None:
    """Return once ``actor`` answers `ping` (it is up and consuming its queue)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sample = await timed_command(client, actor, "ping", limit=1.0)
        if sample.ok:
            return
    raise DrillError(f"{actor} did not answer ping within {timeout} s")


@dataclass
class Sample:
    """One command: when it was sent (monotonic), how long it took, how it ended."""

    command: str
    sent: float
    seconds: float | None  # None: no final reply within the limit
    ok: bool
    reply: dict[str, Any] = field(default_factory=dict)

    @property
    def answered(self) -> bool:
        return self.seconds is not None


async def timed_command(
    client: AMQPClient, actor: str, text: str, *, limit: float
) -> Sample:
    """Send one command and wait at most ``limit`` s for its end; never raises."""
    sent = time.monotonic()
    command_id = str(uuid.uuid4())
    try:
        command = await asyncio.wait_for(
            client.send_command(
                actor, text, command_id=command_id, await_command=False
            ),
            timeout=limit,
        )
        await asyncio.wait_for(
            command, timeout=max(limit - (time.monotonic() - sent), 0)
        )
    except TimeoutError:
        return Sample(text, sent, None, False)
    finally:
        client.running_commands.pop(command_id, None)
    elapsed = time.monotonic() - sent
    reply = command.replies[-1].message if command.replies else {}
    return Sample(text, sent, elapsed, bool(command.status.did_succeed), dict(reply))


class Pacer:
    """Sends one command every ``period`` s (as the Overwatcher or lvmecp do) and keeps
    every sample. Each command runs in its own task, so a slow one never delays the
    next: a wedged actor shows as many unanswered commands, not as a stalled pacer."""

    def __init__(
        self, client: AMQPClient, actor: str, text: str, period: float, limit: float
    ):
        self.client = client
        self.actor = actor
        self.text = text
        self.period = period
        self.limit = limit
        self.samples: list[Sample] = []
        self._task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _one(self) -> None:
        sample = await timed_command(
            self.client, self.actor, self.text, limit=self.limit
        )
        self.samples.append(sample)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            task = asyncio.create_task(self._one())
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
            next_at += self.period
            await asyncio.sleep(max(next_at - loop.time(), 0))

    async def stop(self) -> None:
        """Stop sending; the commands already sent finish or reach their limit."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await asyncio.gather(*self._inflight, return_exceptions=True)

    def between(self, start: float, end: float) -> list[Sample]:
        return [s for s in self.samples if start <= s.sent < end]


def latency_summary(samples: list[Sample]) -> str:
    """`n=…, p50 … ms, p99 … ms, max … ms, unanswered …` for answered samples."""
    answered = [s.seconds * 1000 for s in samples if s.seconds is not None]
    missing = len(samples) - len(answered)
    if not answered:
        return f"n={len(samples)}, none answered"
    return (
        f"n={len(samples)}, p50 {quantile(answered, 0.5):.1f} ms, "
        f"p99 {quantile(answered, 0.99):.1f} ms, max {max(answered):.1f} ms, "
        f"unanswered {missing}"
    )


def largest_gap(times: list[float], start: float, end: float) -> float:
    """The longest stretch in [start, end] without any of ``times``."""
    points = [start, *sorted(t for t in times if start <= t <= end), end]
    return max(b - a for a, b in zip(points, points[1:], strict=False))


@dataclass
class Check:
    what: str
    passed: bool
    detail: str


@dataclass
class Verdict:
    """The drill's checks; printed as a list, turned into the exit status."""

    checks: list[Check] = field(default_factory=list)

    def check(self, what: str, passed: bool, detail: str) -> None:
        self.checks.append(Check(what, bool(passed), detail))

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(check.passed for check in self.checks)

    def markdown(self) -> str:
        rows = "\n".join(
            f"| {c.what} | {'pass' if c.passed else '**FAIL**'} | {c.detail} |"
            for c in self.checks
        )
        return f"| check | result | measured |\n|---|---|---|\n{rows}"

    def print(self) -> None:
        for c in self.checks:
            print(f"  [{'PASS' if c.passed else 'FAIL'}] {c.what}: {c.detail}")
        print(f"Drill {'PASSED' if self.passed else 'FAILED'}.")


def workdir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="lvmbeat-drill-")


def publish(name: str, body: str, write: bool) -> None:
    """Print the section and, unless told not to, write it to docs/reliability.md."""
    print(body)
    if write:
        write_section(RELIABILITY_MD, name, body, title="Reliability")
        print(f"Updated {RELIABILITY_MD.relative_to(REPO_ROOT)} ({name}).")


def drill_main(
    description: str,
    section: str,
    run: Callable[[float, bool], Awaitable[tuple[Any, str]]],
    *,
    knob: str,
    default: float,
    knob_help: str,
) -> int:
    """The command line every actor drill shares: one duration knob, --no-write and
    --echo; exit 0 passed, 1 failed, 2 could not run."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(f"--{knob}", type=float, default=default, help=knob_help)
    parser.add_argument("--no-write", action="store_true", help="leave docs/ alone")
    parser.add_argument("--echo", action="store_true", help="print the processes' logs")
    args = parser.parse_args()
    try:
        verdict, body = asyncio.run(run(getattr(args, knob), args.echo))
    except DrillError as error:
        print(f"Drill could not run: {error}", file=sys.stderr)
        return 2
    verdict.print()
    publish(section, body, write=not args.no_write)
    return 0 if verdict.passed else 1
