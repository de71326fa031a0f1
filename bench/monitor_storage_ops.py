"""How many Table Storage requests the monitor makes per heartbeat, per check, per
/status, counted on the wire between the real host and Azurite.

A counting HTTP proxy (this process, 127.0.0.1) sits in front of Azurite's table
service; `lvmbeat monitor serve` (a child process, its real timer on a one-second
schedule) is given the proxy's address in its connection string. Every request the
Azure SDK sends is recorded with its method, the entity it touches and its time. A
scenario then plays on the real clock: heartbeats current, `/status`, a silence long
enough to be watched and alerted on, a few checks while the outage is declared, and
heartbeats again until the all-clear.

Reads are GETs (the check's and /status's one partition query); writes are every
other request (PUT/PATCH/MERGE/POST/DELETE). A check is the partition query the timer
sends (nothing else reads while it runs), plus the writes to the `state` entity before
the next query.

Writes the "monitor_storage_ops" section of docs/benchmarks.md. Standalone:
    .venv/bin/python bench/monitor_storage_ops.py
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

import aiohttp
from aiohttp import web
from monitor_stack import MonitorStack, running_azurite, running_host, settings_text
from report import (
    BENCHMARKS_MD,
    REPO_ROOT,
    load,
    machine,
    now_utc,
    record_targets,
    write_section,
)
from yarl import URL

from lvmbeat_local.dev.ports import free_port


# late = min(max(P, 30 s), grace) = 30 s with a 1 s period, so a 36 s grace leaves
# six seconds of "watching" checks before the alert.
SETTINGS = {
    "LVMBEAT_CHECK_SCHEDULE": "* * * * * *",
    "LVMBEAT_SEND_EMAIL_AFTER": "36",
}
QUIET_SECONDS = 10.0
HEARTBEAT_EVERY = 0.5
STATUS_REQUESTS = 20
WAITING_CHECKS = 3
HOP_HEADERS = {"content-length", "transfer-encoding", "connection", "host"}


@dataclass(frozen=True)
class Request:
    at: float
    method: str
    target: str  # "heartbeat", "state", "query", "table"

    @property
    def is_read(self) -> bool:
        return self.method == "GET"


def target_of(path: str) -> str:
    path = unquote(path)
    if "RowKey='heartbeat'" in path:
        return "heartbeat"
    if "RowKey='state'" in path:
        return "state"
    if path.rstrip("/").endswith("/Tables"):
        return "table"
    if path.endswith("()"):
        return "query"
    return "state"  # an insert (POST to the table): only the state is ever created


class CountingProxy:
    """Forwards every request to Azurite unchanged and records it. Runs its own
    event loop in a thread, so synchronous code in this process may use it too."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.port = free_port()
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def snapshot(self) -> list[Request]:
        with self._lock:
            return list(self.requests)

    async def _forward(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {
            k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS
        }
        with self._lock:
            self.requests.append(
                Request(time.monotonic(), request.method, target_of(request.path))
            )
        assert self._session is not None
        async with self._session.request(
            request.method,
            # raw and marked encoded: the shared-key signature covers the URL as sent
            URL(self.upstream + request.raw_path, encoded=True),
            headers=headers,
            # no body, no Content-Type: the shared-key signature covers it
            data=body or None,
            skip_auto_headers=("Content-Type",),
        ) as answer:
            payload = await answer.read()
            back = {
                k: v for k, v in answer.headers.items() if k.lower() not in HOP_HEADERS
            }
            return web.Response(status=answer.status, headers=back, body=payload)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        self._session = aiohttp.ClientSession(auto_decompress=False)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port).start()
        self._ready.set()
        await self._stop.wait()
        await runner.cleanup()
        await self._session.close()

    def start(self) -> CountingProxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError(f"the counting proxy did not listen on {self.base}")
        return self

    def stop(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


@dataclass
class Check:
    """The requests of one timer check: its read and the writes that followed."""

    at: float
    reads: int = 1
    writes: int = 0


@dataclass
class Tally:
    """(reads, writes) per operation kind, and how many of each were seen."""

    costs: dict[str, Counter] = field(default_factory=dict)

    def add(self, kind: str, reads: int, writes: int) -> None:
        self.costs.setdefault(kind, Counter())[(reads, writes)] += 1


def checks_in(requests: list[Request]) -> list[Check]:
    """Group check traffic: a partition query opens a check, state writes join it.
    Only valid for windows where no /status is sent (the bench sends none then)."""
    checks: list[Check] = []
    for request in requests:
        if request.target == "query" and request.is_read:
            checks.append(Check(request.at))
        elif request.target == "state" and checks:
            checks[-1].writes += 1
    return checks


async def heartbeat(session: aiohttp.ClientSession, stack: MonitorStack) -> None:
    async with session.get(f"{stack.url}/heartbeat", headers=stack.headers) as r:
        if r.status != 200:
            raise RuntimeError(f"/heartbeat answered {r.status}: {await r.text()}")


async def status(session: aiohttp.ClientSession, stack: MonitorStack) -> dict:
    async with session.get(f"{stack.url}/status") as r:
        if r.status != 200:
            raise RuntimeError(f"/status answered {r.status}: {await r.text()}")
        return await r.json()


async def until(predicate, timeout: float, what: str) -> None:
    """Poll `predicate` (a cheap local check) every 50 ms until true."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout} s")
        await asyncio.sleep(0.05)


def outbox_subjects(outbox: Path) -> list[str]:
    subjects = []
    for path in sorted(outbox.glob("*.eml")) if outbox.exists() else []:
        for line in path.read_text().splitlines():
            if line.startswith("Subject:"):
                subjects.append(line.removeprefix("Subject:").strip())
    return subjects


async def scenario(proxy: CountingProxy, stack: MonitorStack, outbox: Path) -> dict:
    tally = Tally()
    async with aiohttp.ClientSession() as session:
        # First contact: the first heartbeat creates the table, the first check the
        # state; both are counted separately from the steady state.
        first = len(proxy.snapshot())
        await heartbeat(session, stack)
        await until(
            lambda: any(r.target == "state" for r in proxy.snapshot()[first:]),
            10,
            "the first check",
        )
        setup = proxy.snapshot()[first:]

        # Heartbeats current: heartbeats and quiet checks interleave.
        begin = len(proxy.snapshot())
        sent = 0
        end_at = time.monotonic() + QUIET_SECONDS
        while time.monotonic() < end_at:
            await heartbeat(session, stack)
            sent += 1
            await asyncio.sleep(HEARTBEAT_EVERY)
        quiet = proxy.snapshot()[begin:]
        beat_writes = sum(1 for r in quiet if r.target == "heartbeat")
        beat_reads = 0  # a heartbeat never reads; a GET here is always a check's
        for check in checks_in(quiet):
            tally.add("check, heartbeats current (quiet)", check.reads, check.writes)

        # /status, alone (the timer may run meanwhile: its reads are told apart by
        # being followed by nothing and happening on the second; we wait for a gap).
        await asyncio.sleep(0.05)
        status_reads = []
        for _ in range(STATUS_REQUESTS):
            before = len(proxy.snapshot())
            await status(session, stack)
            window = proxy.snapshot()[before:]
            status_reads.append(window)
        for window in status_reads:
            reads = sum(1 for r in window if r.is_read)
            writes = len(window) - reads
            if reads <= 1:  # a window a check fell into is dropped, not guessed
                tally.add("`/status`", reads, writes)

        # Silence until the alert, then a few checks of the declared outage.
        silent_from = len(proxy.snapshot())
        await until(
            lambda: any("down" in s for s in outbox_subjects(outbox)),
            float(SETTINGS["LVMBEAT_SEND_EMAIL_AFTER"]) + 10,
            "the alert",
        )
        alert_seen = len(proxy.snapshot())
        await until(
            lambda: len(checks_in(proxy.snapshot()[alert_seen:])) >= WAITING_CHECKS,
            WAITING_CHECKS + 5,
            "checks of the declared outage",
        )
        outage = proxy.snapshot()[silent_from:]
        alerted = False
        for check in checks_in(outage):
            if check.writes >= 2 and not alerted:
                kind = "check that alerts (claim, confirm)"
                alerted = True
            elif alerted:
                kind = "check, outage declared (waiting)"
            elif check.writes:
                kind = "check watching a silence"
            else:
                kind = "check, silence under 30 s (quiet)"
            tally.add(kind, check.reads, check.writes)

        # Heartbeats again, until the all-clear.
        resumed = len(proxy.snapshot())
        await heartbeat(session, stack)
        await until(
            lambda: any("RESOLVED" in s for s in outbox_subjects(outbox)),
            10,
            "the all-clear",
        )
        recovery = [r for r in proxy.snapshot()[resumed:] if r.target != "heartbeat"]
        for check in checks_in(recovery)[:1]:
            tally.add("check that sends the all-clear", check.reads, check.writes)
    return {
        "tally": tally,
        "heartbeats": (sent, beat_reads, beat_writes),
        "setup": Counter((r.method, r.target) for r in setup),
        "subjects": outbox_subjects(outbox),
        "total": Counter(r.method for r in proxy.snapshot()),
    }


async def measure() -> dict:
    with tempfile.TemporaryDirectory() as workdir, running_azurite() as azurite:
        proxy = CountingProxy(azurite.endpoint.rsplit("/", 1)[0]).start()
        try:
            endpoint = f"{proxy.base}/{azurite.endpoint.rsplit('/', 1)[1]}"
            connection = azurite.connection_string.replace(azurite.endpoint, endpoint)
            with running_host(Path(workdir), connection, **SETTINGS) as stack:
                return await scenario(proxy, stack, Path(workdir) / "outbox")
        finally:
            proxy.stop()


TARGETS = {
    "heartbeat": (0, 1),
    "check, heartbeats current (quiet)": (1, 0),
}


def cost_text(counter: Counter) -> tuple[str, str, int]:
    """Reads and writes as `1` or `1-2` when they varied, and the number seen."""
    reads = sorted({r for r, _ in counter})
    writes = sorted({w for _, w in counter})

    def span(values: list[int]) -> str:
        return str(values[0]) if len(values) == 1 else f"{values[0]}-{values[-1]}"

    return span(reads), span(writes), sum(counter.values())


def section(outcome: dict) -> str:
    sent, beat_reads, beat_writes = outcome["heartbeats"]
    rows = [
        f"| `/heartbeat` | {sent} | {beat_reads / sent:.2f} | "
        f"{beat_writes / sent:.2f} |"
    ]
    for kind, counter in outcome["tally"].costs.items():
        reads, writes, seen = cost_text(counter)
        rows.append(f"| {kind} | {seen} | {reads} | {writes} |")
    table = "\n".join(rows)
    quiet = outcome["tally"].costs.get("check, heartbeats current (quiet)", Counter())
    quiet_ok = set(quiet) == {(1, 0)}
    beat_ok = beat_reads == 0 and beat_writes == sent
    setup = ", ".join(
        f"{n} {method} {target}" for (method, target), n in outcome["setup"].items()
    )
    subjects = "; ".join(outcome["subjects"])
    return f"""## Monitor storage operations

Each `/heartbeat` must be one storage write and each check of a quiet LCO one read, so
that the cost does not grow with time and a heartbeat can never race a check. Measured
with `.venv/bin/python bench/monitor_storage_ops.py`: a counting HTTP proxy in front of
Azurite's table service records every request that `lvmbeat monitor serve` (child
process, its real timer; {settings_text(SETTINGS)}) sends, on the real clock:
{QUIET_SECONDS:.0f} s of heartbeats every {HEARTBEAT_EVERY} s, {STATUS_REQUESTS}
`/status`, a silence through the alert and {WAITING_CHECKS} checks after it, then
heartbeats until the all-clear.
Reads are GETs, writes every other method.

Machine: {machine()}. Date: {now_utc()}; {load()} at the end of the run.

| operation | times seen | reads each | writes each |
|---|---|---|---|
{table}

- Targets: 1 write per heartbeat (0 reads): **{"met" if beat_ok else "missed"}**;
  1 read and 0 writes per quiet check: **{"met" if quiet_ok else "missed"}**.
- First contact, not in the table: the first heartbeat and the first check sent
  {setup} (the first upsert finds no table, creates it and is retried; the first
  check creates the `state` entity).
- Emails in the outbox: {subjects}.
- Same numbers as the in-process count of `tests/monitor/test_monitor_storage.py`
  (docs/monitor.md), here through the whole host. A `/status` window that a timer
  check fell into is left out rather than guessed.

At the production schedule (a check every 30 s, heartbeats every 15 s) a quiet day is
2,880 check reads and 5,760 heartbeat writes; see docs/cost.md for what that costs."""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--no-write", action="store_true", help="print only; leave docs/ untouched"
    )
    args = parser.parse_args()
    outcome = asyncio.run(measure())
    text = section(outcome)
    print(text)
    sent, beat_reads, beat_writes = outcome["heartbeats"]
    quiet = outcome["tally"].costs.get("check, heartbeats current (quiet)", Counter())
    quiet_reads, quiet_writes, seen = cost_text(quiet)
    record_targets(
        "monitor_storage_ops",
        [
            (
                "1 write, 0 reads per `/heartbeat`",
                f"{beat_writes / sent:.2f} writes, {beat_reads / sent:.2f} reads "
                f"({sent} heartbeats)",
                "met" if (beat_reads, beat_writes) == (0, sent) else "missed",
            ),
            (
                "1 read, 0 writes per quiet check",
                f"{quiet_reads} read, {quiet_writes} writes ({seen} checks)",
                "met" if set(quiet) == {(1, 0)} else "missed",
            ),
        ],
    )
    if not args.no_write:
        write_section(BENCHMARKS_MD, "monitor_storage_ops", text, title="Benchmarks")
        print(f"Updated {BENCHMARKS_MD.relative_to(REPO_ROOT)}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
