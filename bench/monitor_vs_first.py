"""`/heartbeat` side by side: ours, the first lvmbeat's monitor, a bare storage write.

Three servers in one run, on loopback, reached by the same aiohttp client:

- **ours**: `lvmbeat monitor serve` (the local host, function key required) writing
  each heartbeat to Azurite's table service;
- **first**: the first lvmbeat's monitor, `lvmbeat[lco-monitor]==0.3.0` from PyPI in
  its own virtual environment under `bench/.work/` (git-ignored; it needs Python 3.13),
  its FastAPI app `lvmbeat.monitor:app` served by uvicorn as it was deployed; it keeps
  its state in memory, so its `/heartbeat` writes nothing durable;
- **floor**: the same kind of upsert ours makes, sent straight to Azurite by the client
  (a PUT with a SAS token): the least a durable write costs here;
- **host**: `GET /version` on ours, which touches no storage: the host's own round trip.
  `host` + `floor` is about the least any host in front of the same write could take
  here (its round trip, then the write, sent by the host instead of the client): the
  bound the c=1 ratio is read against.

Rounds alternate (ours, first, floor, host, ours, ...) so that load changes on this
shared machine fall on all four alike; the first rounds are warm-up and discarded.
`--load` runs a CPU-bound process per core beside them for the whole run.

Writes the "monitor_vs_first_quiet" (or "_loaded") section of docs/benchmarks.md:
    .venv/bin/python bench/monitor_vs_first.py [--load] [--requests 100 --rounds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from azure.core.credentials import AzureNamedKeyCredential
from azure.data.tables import TableSasPermissions, UpdateMode, generate_table_sas
from azure.data.tables.aio import TableServiceClient
from monitor_stack import (
    DEV_ACCOUNT,
    DEV_KEY,
    free_port,
    monitor_env,
    running_azurite,
    running_host,
    wait_for_port,
)
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

from lvmbeat_local.dev.children import stop_child
from lvmbeat_monitor.settings import load_settings
from lvmbeat_monitor.state import AzureTableStore


WORK = Path(__file__).resolve().parent / ".work"
FIRST_VERSION = "0.3.0"
FIRST_REQUIREMENT = f"lvmbeat[lco-monitor]=={FIRST_VERSION}"
FIRST_VENV = WORK / f"first-{FIRST_VERSION}"
FIRST_APP = "lvmbeat.monitor:app"
FLOOR_TABLE = "benchfloor"
LEVELS = (1, 10)
WARMUP_CALLS = 50
CPU_CALLS = 1000  # writes timed in-process for the CPU comparison
NAMES = ("ours", "first", "floor", "host")
# Targets of issue 12.
FLOOR_RATIO = 1.5  # concurrency 1: ours' p50 at most this times the floor's p50
P99_LEVEL = 10  # at this concurrency: ours' p99 no higher than the first monitor's


# --- the first monitor ----------------------------------------------------------


def python313() -> str:
    """An interpreter for 0.3.0 (it requires Python >= 3.13): on the PATH or pyenv's."""
    # A pyenv shim is on the PATH even where it refuses to run (no 3.13 selected for
    # this folder): take only a candidate that answers.
    candidates = [shutil.which("python3.13")]
    pyenv = Path.home() / ".pyenv" / "versions"
    candidates += sorted((str(p) for p in pyenv.glob("3.13*/bin/python")), reverse=True)
    for candidate in filter(None, candidates):
        answered = subprocess.run(
            [candidate, "-c", "import sys; sys.exit(sys.version_info < (3, 13))"],
            capture_output=True,
        )
        if answered.returncode == 0:
            return candidate
    raise SystemExit(
        f"lvmbeat {FIRST_VERSION} needs Python 3.13+ and none was found (no python3.13 "
        "on the PATH, none under ~/.pyenv/versions); install one or pass --python."
    )


def first_venv(python: str | None) -> Path:
    """The first monitor's virtual environment, created and filled on first use."""
    interpreter = FIRST_VENV / "bin" / "python"
    check = [str(interpreter), "-c", "import lvmbeat.monitor, uvicorn"]
    WORK.mkdir(exist_ok=True)
    # cwd: the work folder, so that the repository's own lvmbeat is not on the path.
    if (
        interpreter.exists()
        and subprocess.run(check, capture_output=True, cwd=WORK).returncode == 0
    ):
        return interpreter
    print(f"Installing {FIRST_REQUIREMENT} into {FIRST_VENV} ...", flush=True)
    subprocess.run(
        [python or python313(), "-m", "venv", "--clear", str(FIRST_VENV)], check=True
    )
    subprocess.run(
        [str(interpreter), "-m", "pip", "install", "--quiet", FIRST_REQUIREMENT],
        check=True,
    )
    return interpreter


def first_versions(interpreter: Path) -> str:
    script = (
        "from importlib.metadata import version as v; import sys; "
        "print(', '.join(f'{n} {v(n)}' for n in "
        "('lvmbeat', 'fastapi', 'uvicorn', 'uvloop', 'httptools')), "
        "f'Python {sys.version.split()[0]}', sep=', ')"
    )
    return subprocess.run(
        [str(interpreter), "-c", script],
        capture_output=True,
        text=True,
        check=True,
        cwd=WORK,
    ).stdout.strip()


@dataclass
class Server:
    url: str
    pid: int


@contextmanager
def running_first(interpreter: Path, workdir: Path) -> Iterator[Server]:
    """uvicorn serving 0.3.0's app, with its own check loop off and no mail settings:
    it never sends anything. Its access log (on, as deployed) goes to a file."""
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(workdir),
        "LVMBEAT_START_MONITOR": "false",
        "LVMBEAT_SEND_EMAIL_AFTER": "86400",
    }
    command = [str(interpreter), "-m", "uvicorn", FIRST_APP]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    with open(workdir / "first.log", "wb") as log:
        process = subprocess.Popen(
            command, env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        wait_for_port(
            "127.0.0.1",
            port,
            timeout=60,
            what=f"uvicorn {FIRST_APP} (log: {workdir / 'first.log'})",
            alive=lambda: process.poll() is None,
        )
        url = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(f"{url}/version", timeout=10) as answer:
            served = json.load(answer).get("version")
        if served != FIRST_VERSION:
            raise SystemExit(
                f"{FIRST_VENV} serves lvmbeat {served!r}, not {FIRST_VERSION}; delete "
                "that folder and run again to reinstall it."
            )
        yield Server(url, process.pid)
    finally:
        stop_child(process)


# --- CPU load beside the run ----------------------------------------------------


@contextmanager
def cpu_hogs(count: int) -> Iterator[list[subprocess.Popen]]:
    """`count` busy loops in their own processes, stopped on exit."""
    hogs = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"])
        for _ in range(count)
    ]
    try:
        yield hogs
    finally:
        for hog in hogs:
            hog.terminate()
        for hog in hogs:
            hog.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(value) for value in fields[11:13]) / os.sysconf("SC_CLK_TCK")


# --- the three kinds of request -------------------------------------------------


@dataclass
class Target:
    """One thing measured: how to make its request, and whose CPU it spends."""

    name: str
    method: str
    url: str
    headers: dict[str, str]
    pids: dict[str, int]
    body: bool = False  # floor: a fresh entity per request

    def data(self) -> bytes | None:
        if not self.body:
            return None
        return b'{"last_seen":"%s"}' % datetime.now(UTC).isoformat().encode()


async def floor_target(endpoint: str, connection_string: str, pid: int) -> Target:
    """A PUT of one entity (Insert Or Replace) with a SAS token: signed once, so the
    client does no per-request work beyond aiohttp's own."""
    async with TableServiceClient.from_connection_string(connection_string) as service:
        await service.create_table_if_not_exists(FLOOR_TABLE)
    sas = generate_table_sas(
        AzureNamedKeyCredential(DEV_ACCOUNT, DEV_KEY),
        FLOOR_TABLE,
        permission=TableSasPermissions(add=True, update=True),
        expiry=datetime.now(UTC) + timedelta(hours=2),
    )
    url = f"{endpoint}/{FLOOR_TABLE}(PartitionKey='bench',RowKey='floor')?{sas}"
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json;odata=nometadata",
        "DataServiceVersion": "3.0",
        "x-ms-version": "2019-02-02",
    }
    return Target("floor", "PUT", url, headers, {"Azurite": pid}, body=True)


# --- measuring ------------------------------------------------------------------


@dataclass
class Series:
    latencies_ms: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def requests(self) -> int:
        return len(self.latencies_ms) + sum(self.errors.values())

    def q(self, fraction: float) -> float:
        """A quantile of the answered requests; NaN when none was (see errors)."""
        return quantile(self.latencies_ms, fraction) if self.latencies_ms else math.nan


async def one(session: aiohttp.ClientSession, target: Target, series: Series) -> None:
    started = time.perf_counter()
    try:
        async with session.request(
            target.method, target.url, headers=target.headers, data=target.data()
        ) as response:
            await response.read()
            status = response.status
    except aiohttp.ClientError as error:
        why = type(error).__name__
        series.errors[why] = series.errors.get(why, 0) + 1
        return
    if status >= 300:
        series.errors[f"HTTP {status}"] = series.errors.get(f"HTTP {status}", 0) + 1
        return
    series.latencies_ms.append((time.perf_counter() - started) * 1000)


async def round_of(
    session: aiohttp.ClientSession, target: Target, concurrency: int, count: int
) -> Series:
    """`count` requests, `concurrency` in flight (closed loop), kept-alive links."""
    series = Series()
    remaining = count

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await one(session, target, series)

    before = {name: cpu_seconds(pid) for name, pid in target.pids.items()}
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    series.cpu = {
        name: cpu_seconds(pid) - before[name] for name, pid in target.pids.items()
    }
    return series


async def level(
    targets: list[Target], concurrency: int, count: int, rounds: int, warmup: int
) -> dict[str, Series]:
    """Rounds in turn (ours, first, floor, ours, ...); the first `warmup` dropped."""
    kept = {target.name: Series() for target in targets}
    sessions = {
        t.name: aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency))
        for t in targets
    }
    try:
        for number in range(warmup + rounds):
            for target in targets:
                got = await round_of(sessions[target.name], target, concurrency, count)
                if number < warmup:
                    continue
                series = kept[target.name]
                series.latencies_ms += got.latencies_ms
                for why, n in got.errors.items():
                    series.errors[why] = series.errors.get(why, 0) + n
                for name, seconds in got.cpu.items():
                    series.cpu[name] = series.cpu.get(name, 0.0) + seconds
    finally:
        for session in sessions.values():
            await session.close()
    return kept


async def client_cpu_ms(target: Target, calls: int) -> float:
    """CPU ms of this process per request to `target`, one at a time."""
    async with aiohttp.ClientSession() as session:
        await round_of(session, target, 1, WARMUP_CALLS)
        started = time.process_time()
        await round_of(session, target, 1, calls)
    return (time.process_time() - started) * 1000 / calls


async def store_cpu_ms(
    connection_string: str, workdir: Path, calls: int
) -> tuple[float, float]:
    """CPU ms of this process per heartbeat write, without the host: as the monitor
    makes it (`AzureTableStore.record_heartbeat`, a REST PUT of its own), and as the
    Azure SDK's async Table client makes the same upsert (what it did before)."""
    settings = load_settings(monitor_env(connection_string, "unused", workdir))
    store = AzureTableStore.from_settings(settings)
    entity = {"PartitionKey": "bench", "RowKey": "sdk", "last_seen": "now"}

    async def sdk_upsert() -> None:
        await store.table_client.upsert_entity(entity, mode=UpdateMode.REPLACE)

    async def ours() -> None:
        await store.record_heartbeat(datetime.now(UTC))

    try:
        costs = []
        for write in (ours, sdk_upsert):
            for _ in range(WARMUP_CALLS):
                await write()
            started = time.process_time()
            for _ in range(calls):
                await write()
            costs.append((time.process_time() - started) * 1000 / calls)
        return costs[0], costs[1]
    finally:
        await store.close()


@dataclass
class Run:
    levels: dict[int, dict[str, Series]]
    first_versions: str
    load_start: str
    load_end: str
    # CPU ms per write in this process: the monitor's store, the SDK's upsert, the
    # bare PUT.
    write_cpu_ms: tuple[float, float, float] = (0.0, 0.0, 0.0)


async def measure(args: argparse.Namespace) -> Run:
    interpreter = first_venv(args.python)
    versions = first_versions(interpreter)
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        if args.load:
            stack.enter_context(cpu_hogs(os.cpu_count() or 1))
        azurite = stack.enter_context(running_azurite())
        ours = stack.enter_context(
            running_host(workdir, azurite.connection_string, app_dir=args.app_dir)
        )
        first = stack.enter_context(running_first(interpreter, workdir))
        az = {"Azurite": azurite.process.pid}
        targets = [
            Target(
                "ours",
                "GET",
                f"{ours.url}/heartbeat",
                ours.headers,
                {"host": ours.host.process.pid, **az},
            ),
            Target(
                "first", "GET", f"{first.url}/heartbeat", {}, {"uvicorn": first.pid}
            ),
            await floor_target(
                azurite.endpoint, azurite.connection_string, az["Azurite"]
            ),
            Target(
                "host",
                "GET",
                f"{ours.url}/version",
                {},
                {"host": ours.host.process.pid},
            ),
        ]
        load_start = load()
        levels = {
            c: await level(targets, c, args.requests, args.rounds, args.warmup_rounds)
            for c in LEVELS
        }
        load_end = load()
        write_cpu = (
            *await store_cpu_ms(azurite.connection_string, workdir, CPU_CALLS),
            await client_cpu_ms(targets[2], CPU_CALLS),
        )
        return Run(levels, versions, load_start, load_end, write_cpu)


# --- the report -----------------------------------------------------------------


def verdicts(run: Run) -> list[tuple[str, str, str]]:
    one = run.levels[1]
    floor = one["floor"].q(0.5)
    ratio = one["ours"].q(0.5) / floor
    # The least a host in front of the same write can take here: its own round trip
    # and the write as the client makes it (the host sending it in the client's stead).
    bound = one["host"].q(0.5) + floor
    many = run.levels[P99_LEVEL]
    ours_p99, first_p99 = many["ours"].q(0.99), many["first"].q(0.99)
    errors = sum(
        s.errors and sum(s.errors.values()) or 0
        for lv in run.levels.values()
        for s in lv.values()
    )
    return [
        (
            f"concurrency 1: ours' p50 within {FLOOR_RATIO}x the bare upsert's",
            f"{one['ours'].q(0.5):.2f} ms vs {floor:.2f} ms ({ratio:.2f}x); host + "
            f"floor: {bound:.2f} ms ({bound / floor:.2f}x)",
            "met" if ratio <= FLOOR_RATIO else f"missed ({ratio:.2f}x)",
        ),
        (
            f"concurrency {P99_LEVEL}: ours' p99 no higher than the first monitor's",
            f"{ours_p99:.1f} ms vs {first_p99:.1f} ms",
            "met" if ours_p99 <= first_p99 else f"missed ({ours_p99 / first_p99:.2f}x)",
        ),
        (
            "errors (all four, both levels)",
            str(errors),
            "met" if not errors else "missed",
        ),
    ]


def table(run: Run) -> str:
    rows = []
    for concurrency, series in run.levels.items():
        for name in NAMES:
            s = series[name]
            errors = ", ".join(f"{n}x {why}" for why, n in s.errors.items()) or "0"
            cpu = ", ".join(
                f"{who} {seconds * 1000 / s.requests:.2f}"
                for who, seconds in s.cpu.items()
            )
            slowest = max(s.latencies_ms, default=math.nan)
            rows.append(
                f"| {concurrency} | {name} | {s.requests} | {s.q(0.5):.2f} | "
                f"{s.q(0.9):.2f} | {s.q(0.99):.2f} | {slowest:.2f} | "
                f"{errors} | {cpu} |"
            )
    return "\n".join(rows)


def section(run: Run, args: argparse.Namespace, command: str) -> str:
    condition = (
        f"loaded: {os.cpu_count()} CPU-bound busy loops (one per CPU) ran beside it"
        if args.load
        else "quiet: nothing started beside it (other helpers' work may run on this "
        "shared machine; the load averages say how much)"
    )
    targets = "\n".join(
        f"| {what} | {measured} | **{verdict}** |"
        for what, measured, verdict in verdicts(run)
    )
    title = "loaded" if args.load else "quiet"
    return f"""## `/heartbeat` against the first monitor ({title})

Command: `{command}`. Condition: {condition}.
Machine: {machine()}. Date: {now_utc()}. Before the measured levels:
{run.load_start}; at the end: {run.load_end}.
The first monitor: {run.first_versions}.

Per concurrency level, {args.warmup_rounds} warm-up rounds then {args.rounds} measured
rounds, each round {args.requests} requests to each server in turn (ours, first,
floor, host), closed loop, kept-alive connections, one aiohttp client in the benchmark
process. `ours` is `GET /heartbeat` with the function key on `lvmbeat monitor serve`
(one durable Table write to Azurite each); `first` is `GET /heartbeat` on uvicorn
serving 0.3.0's FastAPI app (state in memory, access log on); `floor` is a PUT of one
entity straight to Azurite with a SAS token (Insert Or Replace); `host` is
`GET /version` on ours (no storage): the host's own round trip.

| concurrency | server | requests | p50 ms | p90 ms | p99 ms | max ms | errors \
| server CPU ms per request |
|---|---|---|---|---|---|---|---|---|
{table(run)}

Server CPU is from `/proc/<pid>/stat` over the measured rounds, divided by the
requests. In this process, one write at a time ({CPU_CALLS} each): the monitor's own
heartbeat write (`AzureTableStore.record_heartbeat`, its REST PUT, table_put.py) costs
{run.write_cpu_ms[0]:.2f} ms of CPU, the same upsert through the Azure SDK's async
Table client {run.write_cpu_ms[1]:.2f} ms, the bare PUT {run.write_cpu_ms[2]:.2f} ms.

| target | measured | verdict |
|---|---|---|
{targets}"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--load", action="store_true", help="a busy loop per CPU beside"
    )
    parser.add_argument("--requests", type=int, default=100, help="per round")
    parser.add_argument("--rounds", type=int, default=20, help="measured, per level")
    parser.add_argument("--warmup-rounds", type=int, default=2)
    parser.add_argument("--python", help="a Python 3.13+ for the first monitor's venv")
    parser.add_argument(
        "--app-dir",
        type=Path,
        help="serve this function_app/ as ours (another checkout, to compare)",
    )
    parser.add_argument("--no-write", action="store_true", help="leave docs/ alone")
    args = parser.parse_args()
    command = ".venv/bin/python bench/monitor_vs_first.py " + " ".join(sys.argv[1:])
    run = asyncio.run(measure(args))
    text = section(run, args, command.strip())
    print(text)
    name = "monitor_vs_first_" + ("loaded" if args.load else "quiet")
    condition = "loaded" if args.load else "quiet"
    record_targets(
        name, [(f"{what} ({condition})", m, v) for what, m, v in verdicts(run)]
    )
    if not args.no_write:
        write_section(BENCHMARKS_MD, name, text, title="Benchmarks")
        print(f"Updated {BENCHMARKS_MD.relative_to(REPO_ROOT)}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
