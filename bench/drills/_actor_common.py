"""Shared parts of the actor fault drills (`bench/drills/actor_*.py`); not a drill.

The actor and lvmecp processes and their config come from bench/actor_stack.py (the
actor bench starts them the same way), the loopback listener from the actor tests.

Each drill runs the real actor in its own process (`lvmbeat actor start --debug`, as
deployed) on the local RabbitMQ, with every network check on a loopback listener the
drill opens, and drives it with CLU clients that time every command. Nothing here
talks to anything but 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from typing import Any

from clu import AMQPClient


BENCH_DIR = Path(__file__).resolve().parents[1]
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

from actor_stack import (  # noqa: E402 - bench/ joins the path just above
    BROKER_PORT,
    ActorProcess,
    EcpProcess,
    actor_config,
)
from actor_stack import ActorStackError as DrillError  # noqa: E402
from actor_support import LocalListener as LoopbackListener  # noqa: E402
from report import (  # noqa: E402
    RELIABILITY_MD,
    REPO_ROOT,
    machine,
    now_utc,
    quantile,
    write_section,
)


__all__ = [
    "BROKER_PORT",
    "ActorProcess",
    "DrillError",
    "EcpProcess",
    "LoopbackListener",
    "actor_config",
    "RELIABILITY_MD",
    "REPO_ROOT",
    "machine",
    "now_utc",
    "quantile",
    "write_section",
]

#: lvmecp polls `lvmbeat status` with this limit; a slower answer counts as wedged.
STATUS_LIMIT = 5.0


def unique(prefix: str) -> str:
    """An actor name nobody else on the shared broker uses."""
    return f"{prefix}_drill_{uuid.uuid4().hex[:6]}"


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
