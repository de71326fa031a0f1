"""How fast the monitor's `/heartbeat` answers on the local host, and how many it takes.

Starts Azurite's table service and `lvmbeat monitor serve` (a child process, the real
CLI, with a function key and the outbox email backend), then sends bounded numbers of
keyed `GET /heartbeat` requests over loopback at concurrency 1, 10 and 50 from an
aiohttp client in this process. Each `/heartbeat` is one Table Storage write to Azurite.

Writes the "monitor_http" section of docs/benchmarks.md. Standalone:
    .venv/bin/python bench/monitor_http.py [--requests 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from monitor_stack import MonitorStack, monitor_env, running_azurite, running_host
from report import (
    BENCHMARKS_MD,
    REPO_ROOT,
    load,
    machine,
    now_utc,
    quantile,
    record_targets,
    write_section,
)

from lvmbeat_monitor.settings import load_settings
from lvmbeat_monitor.state import AzureTableStore


LEVELS = (1, 10, 50)
TARGET_P99_MS = 20.0
TARGET_LEVEL = 10
WARMUP = 50


@dataclass
class Level:
    concurrency: int
    latencies_ms: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    cpu_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def requests(self) -> int:
        return len(self.latencies_ms) + sum(self.errors.values())

    def error_count(self) -> int:
        return sum(self.errors.values())

    def row(self) -> str:
        ok = self.latencies_ms
        errors = ", ".join(f"{n}x {why}" for why, n in self.errors.items()) or "0"
        return (
            f"| {self.concurrency} | {self.requests} | {quantile(ok, 0.5):.2f} | "
            f"{quantile(ok, 0.99):.2f} | {max(ok):.2f} | "
            f"{self.requests / self.seconds:.0f} | {errors} |"
        )

    def cpu_row(self) -> str:
        per_request = [
            f"{seconds * 1000 / self.requests:.2f}"
            for seconds in self.cpu_seconds.values()
        ]
        return f"| {self.concurrency} | " + " | ".join(per_request) + " |"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its reaped children, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


async def one(session: aiohttp.ClientSession, stack: MonitorStack, level: Level):
    start = time.perf_counter()
    try:
        async with session.get(f"{stack.url}/heartbeat", headers=stack.headers) as r:
            await r.read()
            status = r.status
    except aiohttp.ClientError as error:
        why = type(error).__name__
        level.errors[why] = level.errors.get(why, 0) + 1
        return
    if status != 200:
        level.errors[f"HTTP {status}"] = level.errors.get(f"HTTP {status}", 0) + 1
        return
    level.latencies_ms.append((time.perf_counter() - start) * 1000)


async def run_level(
    stack: MonitorStack, concurrency: int, count: int, processes: dict[str, int]
) -> Level:
    """`count` requests, `concurrency` in flight at a time, each on a kept-alive
    connection of the client's pool (as the actor's client keeps its connection)."""
    level = Level(concurrency)
    remaining = count
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        for _ in range(min(WARMUP, count)):
            await one(session, stack, Level(concurrency))

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                await one(session, stack, level)

        cpu_before = {name: cpu_seconds(pid) for name, pid in processes.items()}
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        level.seconds = time.perf_counter() - started
        level.cpu_seconds = {
            name: cpu_seconds(pid) - cpu_before[name] for name, pid in processes.items()
        }
    return level


def sdk_cpu_ms(connection_string: str, workdir: Path, calls: int = 500) -> float:
    """CPU ms of this process per `AzureTableStore.record_heartbeat` (the Table SDK's
    upsert, as the host's `/heartbeat` runs it), without the host around it."""
    settings = load_settings(monitor_env(connection_string, "unused", workdir))
    store = AzureTableStore.from_settings(settings)
    for _ in range(WARMUP):
        store.record_heartbeat(datetime.now(UTC))
    started = time.process_time()
    for _ in range(calls):
        store.record_heartbeat(datetime.now(UTC))
    return (time.process_time() - started) * 1000 / calls


async def measure(count: int) -> tuple[list[Level], float]:
    with tempfile.TemporaryDirectory() as workdir, running_azurite() as azurite:
        with running_host(Path(workdir), azurite.connection_string) as stack:
            processes = {
                "client (this process)": os.getpid(),
                "host": stack.host.process.pid,
                "Azurite": azurite.process.pid,
            }
            levels = [await run_level(stack, c, count, processes) for c in LEVELS]
        sdk = sdk_cpu_ms(azurite.connection_string, Path(workdir))
        return levels, sdk


def section(levels: list[Level], count: int, sdk_ms: float) -> str:
    rows = "\n".join(level.row() for level in levels)
    cpu_rows = "\n".join(level.cpu_row() for level in levels)
    cpu_head = " | ".join(levels[0].cpu_seconds)
    target = next(level for level in levels if level.concurrency == TARGET_LEVEL)
    p99 = quantile(target.latencies_ms, 0.99)
    errors = sum(level.error_count() for level in levels)
    met = p99 < TARGET_P99_MS and errors == 0
    host_cpu = target.cpu_seconds["host"] * 1000 / target.requests
    target_rps = target.requests / target.seconds
    verdict = (
        f"Target (p99 under {TARGET_P99_MS:.0f} ms at concurrency {TARGET_LEVEL}, zero "
        f"errors): **{'met' if met else 'missed'}**, p99 {p99:.2f} ms, "
        f"{errors} errors."
    )
    return f"""## Monitor `/heartbeat` over HTTP

The actor calls `/heartbeat` every 15 s; the monitor must answer it quickly and never
fail it. Measured with `.venv/bin/python bench/monitor_http.py --requests {count}`:
Azurite's table service (in memory) and `lvmbeat monitor serve` as a child process
(function key required, `outbox` email backend, the production schedule
`*/30 * * * * *`), `{count}` keyed `GET /heartbeat` requests per level from an aiohttp
client in the benchmark process, over loopback, kept-alive connections, after
{WARMUP} warm-up requests. Every request is a real Table Storage write (upsert of the
`heartbeat` entity) to Azurite, which runs on the same CPUs as the host and the client.

Machine: {machine()}. Date: {now_utc()}; {load()} at the end of the run.

| concurrency | requests | p50 ms | p99 ms | max ms | requests/s | errors |
|---|---|---|---|---|---|---|
{rows}

{verdict}

CPU time per request (ms), from `/proc/<pid>/stat` over each level:

| concurrency | {cpu_head} |
|---|{"---|" * len(levels[0].cpu_seconds)}
{cpu_rows}

Latency is client-measured (send to last byte): the client, the host (aiohttp, a
thread-pool hop into the synchronous function, the request log line) and the storage
write to Azurite, all three sharing the machine's CPUs.

Why concurrency 10 and 50 are slower: the clients are closed-loop, so latency at
concurrency c is about c / throughput (Little's law). The host spends
{host_cpu:.1f} ms of CPU per heartbeat in one Python process; {sdk_ms:.1f} ms of that
is the Azure Table SDK's `upsert_entity` (azure-core pipeline and the `requests`
transport; `AzureTableStore.record_heartbeat` timed in the benchmark process, without
the host), so one host process tops out near
{1000 / host_cpu:.0f} requests/s and 10 requests in flight each wait about
{10 / target_rps * 1000:.0f} ms. p99 under {TARGET_P99_MS:.0f} ms at concurrency
{TARGET_LEVEL} needs over {TARGET_LEVEL / (TARGET_P99_MS / 1000):.0f} requests/s, about
{TARGET_LEVEL / (TARGET_P99_MS / 1000) / target_rps:.1f}x this.

What it means, and what would close it: production load is one actor calling once
every 15 s (0.07 requests/s), i.e. the concurrency-1 row; the monitor answers that in
{quantile(levels[0].latencies_ms, 0.99):.1f} ms at p99, and errors stay at {errors}
at every level.
To reach the concurrency-10 target locally: the SDK's async client
(`azure.data.tables.aio`) on an aiohttp transport would drop the thread hop and most of
the per-call `requests` overhead, and several host processes on one port
(`SO_REUSEPORT`) would use every CPU. On Azure, Flex Consumption scales out instances
by HTTP concurrency and Table Storage is its own service, so the host does not share
its CPU with the storage as here."""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="per level")
    parser.add_argument(
        "--no-write", action="store_true", help="print only; leave docs/ untouched"
    )
    args = parser.parse_args()
    levels, sdk_ms = asyncio.run(measure(args.requests))
    text = section(levels, args.requests, sdk_ms)
    print(text)
    target = next(level for level in levels if level.concurrency == TARGET_LEVEL)
    p99 = quantile(target.latencies_ms, 0.99)
    errors = [level.error_count() for level in levels]
    record_targets(
        "monitor_http",
        [
            (
                f"`/heartbeat` p99 under {TARGET_P99_MS:.0f} ms at concurrency "
                f"{TARGET_LEVEL}",
                f"{p99:.1f} ms",
                "met"
                if p99 < TARGET_P99_MS
                else f"missed by {p99 - TARGET_P99_MS:.1f} ms "
                f"({p99 / TARGET_P99_MS:.1f}x); concurrency 1: "
                f"{quantile(levels[0].latencies_ms, 0.99):.1f} ms",
            ),
            (
                "`/heartbeat` errors at concurrency "
                + "/".join(str(level.concurrency) for level in levels),
                "/".join(str(n) for n in errors),
                "met" if not any(errors) else "missed",
            ),
        ],
    )
    if not args.no_write:
        write_section(BENCHMARKS_MD, "monitor_http", text, title="Benchmarks")
        print(f"Updated {BENCHMARKS_MD.relative_to(REPO_ROOT)}.")
    errors = sum(level.error_count() for level in levels)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
