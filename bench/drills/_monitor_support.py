"""What the monitor's fault drills share: the real pieces, started and counted.

Each drill (bench/drills/monitor_*.py) runs the monitor as users do, as
`lvmbeat monitor serve` processes on loopback, against Azurite's table service and a
real SMTP server (aiosmtpd), breaks one of them on purpose, and counts the emails
that reached the SMTP server. A drill passes only when nothing was lost and nothing
was sent twice that the contract does not allow; it then writes its own section of
docs/reliability.md. The leading underscore keeps `make drills` from running this
file as a drill.

The pieces are started as the tests start them: the monitor's settings, the host
process and the waits come from the tests' support modules (tests/), so a change to
how a monitor is set up or started is made once.
"""

from __future__ import annotations

import contextlib
import secrets
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from aiosmtpd.controller import Controller


BENCH = Path(__file__).resolve().parents[1]
TESTS = BENCH.parent / "tests"
for folder in (BENCH, TESTS, TESTS / "host", TESTS / "monitor"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from host_support import launch_host  # noqa: E402 - tests/ joins the path above
from monitor_support import monitor_settings as base_settings  # noqa: E402
from monitor_support import smtp_env  # noqa: E402
from report import RELIABILITY_MD, machine, now_utc, write_section  # noqa: E402
from report import quantile as quantile  # noqa: E402 - re-exported for the drills
from waits import wait_until as wait_for  # noqa: E402

from lvmbeat_local.dev.azurite import AzuriteTables, start_azurite_tables  # noqa: E402
from lvmbeat_local.dev.children import stop_child  # noqa: E402
from lvmbeat_local.dev.smtp import SmtpServer, SmtpSink  # noqa: E402
from lvmbeat_local.host.keys import KEY_SETTING  # noqa: E402
from lvmbeat_local.host.process import HostProcess  # noqa: E402


SITE = "LCO"
DOWN_SUBJECT = f"{SITE} internet is down"
UP_SUBJECT = f"RESOLVED: {SITE} internet is up"
EVERY_SECOND = "* * * * * *"
# What the monitor logs (lvmbeat_monitor.service, .handlers), counted by the drills.
DELIVERED_LOG = "Delivered the {kind} notification"
FAILED_LOG = "the {kind} notification on email failed"
RESUMED_LOG = "Check: no check ran for more than"
CHECK_FAILED_LOG = "Check failed"


class DrillFailed(RuntimeError):
    """Something the drill waited for did not happen; the message says what."""


def wait_until(
    condition: Callable[[], object], *, timeout: float, what: str, every: float = 0.05
) -> float:
    """Wait for `condition` (tests' `wait_until`); return the seconds it took."""
    started = time.monotonic()
    wait_for(condition, what=what, timeout=timeout, every=every)
    return time.monotonic() - started


# --- the pieces -----------------------------------------------------------------


def start_azurite(workdir: Path, *, port: int | None = None, persistent: bool = False):
    """Azurite's table service; `persistent` keeps the tables in `workdir` on disk
    so that a restart on the same port finds them again."""
    return start_azurite_tables(
        port=port, workdir=workdir / "azurite", in_memory=not persistent
    )


def stop_azurite_cleanly(azurite: AzuriteTables, timeout: float = 20.0) -> int:
    """Stop Azurite with SIGINT, which it handles by saving its tables and closing
    (SIGTERM would kill it at once, and its disk store only saves every 5 s: an
    emulator artefact, not something Azure Table Storage does after acknowledging a
    write). Unlike AzuriteTables.stop, a hang fails the drill."""
    if stop_child(azurite.process, signal.SIGINT, timeout):
        raise DrillFailed(f"Azurite did not stop within {timeout:.0f} s of SIGINT")
    return azurite.process.returncode


def start_smtp_with(sink: SmtpSink, host: str, port: int) -> SmtpServer:
    """An SMTP server on `port` around an existing sink, so that what it received
    before a stop is still counted after the restart."""
    controller = Controller(sink, hostname=host, port=port)
    controller.start()  # returns once the server answers its own probe
    return SmtpServer(host, port, sink, controller)


def restart_smtp(server: SmtpServer) -> SmtpServer:
    """The same SMTP server (same port, same sink) started again after stop()."""
    return start_smtp_with(server.sink, server.host, server.port)


def monitor_settings(
    azurite: AzuriteTables,
    table: str,
    smtp: SmtpServer,
    *,
    send_email_after: int,
    schedule: str = EVERY_SECOND,
    key: str,
) -> dict[str, str]:
    """The tests' monitor settings, with plain SMTP on loopback, the drill's timings
    and a function key."""
    return {
        **base_settings(azurite.connection_string, table),
        **smtp_env(smtp),
        KEY_SETTING: key,
        "LVMBEAT_CHECK_SCHEDULE": schedule,
        "LVMBEAT_SEND_EMAIL_AFTER": str(send_email_after),
    }


def start_monitor(settings: dict[str, str], log_path: Path) -> HostProcess:
    """`lvmbeat monitor serve` in its own process, as the host tests start it."""
    return launch_host(settings, log_path)


def new_table_name(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(4)}"


def new_key() -> str:
    return secrets.token_urlsafe(24)


# --- talking to a monitor ---------------------------------------------------------


@dataclass
class MonitorClient:
    """HTTP to one monitor host, with its function key."""

    host: HostProcess
    key: str
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(
            base_url=self.host.url, timeout=15, headers={"x-functions-key": self.key}
        )

    def heartbeat(self) -> httpx.Response:
        return self.client.post("/heartbeat")

    def status(self) -> httpx.Response:
        return self.client.get("/status")

    def close(self) -> None:
        self.client.close()


class Heartbeats:
    """LCO's heartbeats, as the actor sends them, but every `every` seconds (the
    actor's 15 s would make a drill last minutes). Counts answers by status."""

    def __init__(self, client: MonitorClient, every: float = 0.25) -> None:
        self.client, self.every = client, every
        self.statuses: dict[int, int] = {}
        self.last_ok: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Heartbeats:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop; return once the last heartbeat in flight has been answered."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                status = self.client.heartbeat().status_code
            except httpx.HTTPError:
                status = 0  # no answer at all: counted as status 0
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if status == 200:
                self.last_ok = time.monotonic()
            self._stop.wait(self.every)


def alert_delivered(status: dict) -> bool:
    """/status says an outage is declared and nothing is left to send for it."""
    return status["active"] and status["pending"] is None


def check_runs(host: HostProcess) -> int:
    """How many timer runs of the check the host has logged so far."""
    return host.log_text().count("function=check timer ")


def wait_for_checks(hosts: list[HostProcess], more: int, *, timeout: float) -> float:
    """Wait until every host has run `more` further checks; the seconds it took."""
    runs = [check_runs(host) for host in hosts]
    return wait_until(
        lambda: all(
            check_runs(host) >= n + more for host, n in zip(hosts, runs, strict=True)
        ),
        timeout=timeout,
        what=f"{more} more checks on {len(hosts)} host(s)",
    )


def log_count(host: HostProcess, text: str) -> int:
    """Log lines of the monitor itself (not the host's tracebacks) containing
    `text`: the host also logs a failed timer run with its traceback, which repeats
    the monitor's message."""
    return sum(
        1
        for line in host.log_text().splitlines()
        if " lvmbeat_monitor." in line and text in line
    )


# --- counting the mail ----------------------------------------------------------


def subjects(sink: SmtpSink) -> list[str]:
    with sink.arrived:
        return [str(mail.message["Subject"]) for mail in sink.messages]


def kinds(sink: SmtpSink) -> list[str]:
    """`down` / `up` / `other` for every message the server accepted, in order."""
    return [
        "down" if s == DOWN_SUBJECT else "up" if s == UP_SUBJECT else "other"
        for s in subjects(sink)
    ]


def count(sink: SmtpSink, kind: str) -> int:
    return kinds(sink).count(kind)


def tally(sink: SmtpSink) -> dict[str, int]:
    """What the server accepted, as a drill reports it; any `other` is unexpected."""
    received = kinds(sink)
    found = {"alert": received.count("down"), "all-clear": received.count("up")}
    if "other" in received:
        found["other"] = received.count("other")
    return found


# --- the report -----------------------------------------------------------------


@dataclass
class Drill:
    """One drill's findings: counted emails against what the contract expects, and
    named checks. `lost` and `duplicated` are what the drill exists to show as 0."""

    name: str
    title: str
    command: str
    expected: dict[str, int] = field(default_factory=dict)
    received: dict[str, int] = field(default_factory=dict)
    allowed_extra: dict[str, int] = field(default_factory=dict)
    checks: list[tuple[str, bool]] = field(default_factory=list)
    numbers: list[tuple[str, str]] = field(default_factory=list)
    error: str | None = None
    started: float = field(default_factory=time.monotonic)

    def check(self, description: str, ok: bool) -> bool:
        self.checks.append((description, bool(ok)))
        print(f"  [{'ok' if ok else 'FAILED'}] {description}", flush=True)
        return ok

    def number(self, name: str, value: object) -> None:
        self.numbers.append((name, str(value)))
        print(f"  {name}: {value}", flush=True)

    def step(self, text: str) -> None:
        print(f"[{time.monotonic() - self.started:6.1f} s] {text}", flush=True)

    @property
    def lost(self) -> int:
        return sum(
            max(0, want - self.received.get(kind, 0))
            for kind, want in self.expected.items()
        )

    @property
    def duplicated(self) -> int:
        return sum(
            max(0, got - self.expected.get(kind, 0) - self.allowed_extra.get(kind, 0))
            for kind, got in self.received.items()
        )

    @property
    def passed(self) -> bool:
        return (
            self.error is None
            and self.lost == 0
            and self.duplicated == 0
            and all(ok for _, ok in self.checks)
        )

    def summary(self) -> str:
        counts = ", ".join(
            f"{kind}: {self.received.get(kind, 0)} of {want} expected"
            + (
                f" (+{self.allowed_extra[kind]} allowed)"
                if kind in self.allowed_extra
                else ""
            )
            for kind, want in self.expected.items()
        )
        verdict = "PASS" if self.passed else "FAIL"
        return (
            f"{self.name}: {verdict}. {counts}. Lost: {self.lost}, "
            f"duplicated: {self.duplicated}."
            + (f" Error: {self.error}" if self.error else "")
        )

    def markdown(self, what: list[str], notes: list[str]) -> str:
        lines = [
            f"## Monitor drill: {self.title}",
            "",
            *what,
            "",
            f"Command: `{self.command}`  ",
            f"Machine: {machine()}  ",
            f"Run: {now_utc()}, {time.monotonic() - self.started:.0f} s",
            "",
            f"**Result: {'PASS' if self.passed else 'FAIL'}** — lost {self.lost}, "
            f"duplicated {self.duplicated}"
            + (f"; error: {self.error}" if self.error else "")
            + ".",
            "",
            "| email | expected | received |",
            "|---|---|---|",
        ]
        for kind, want in self.expected.items():
            extra = self.allowed_extra.get(kind, 0)
            expected = f"{want}" + (f" (+{extra} allowed repeat)" if extra else "")
            lines.append(f"| {kind} | {expected} | {self.received.get(kind, 0)} |")
        if self.numbers:
            lines += ["", "| measured | value |", "|---|---|"]
            lines += [f"| {name} | {value} |" for name, value in self.numbers]
        if self.checks:
            lines += ["", "Checks:", ""]
            lines += [
                f"- {'ok' if ok else '**FAILED**'}: {text}" for text, ok in self.checks
            ]
        if notes:
            lines += ["", *notes]
        return "\n".join(lines)


def run_drill(
    drill: Drill,
    body: Callable[[Drill, Path, contextlib.ExitStack], None],
    *,
    what: list[str],
    notes: Callable[[Drill], list[str]] = lambda _: [],
) -> int:
    """Run `body` with a scratch folder and a cleanup stack, then print the verdict,
    write the drill's section of docs/reliability.md and return the exit status."""
    print(f"{drill.name}: {drill.title}", flush=True)
    with tempfile.TemporaryDirectory(prefix=f"lvmbeat-{drill.name}-") as scratch:
        try:
            with contextlib.ExitStack() as stack:
                body(drill, Path(scratch), stack)
        except Exception as error:  # noqa: BLE001 - reported as the drill's failure
            traceback.print_exc()
            drill.error = f"{type(error).__name__}: {error}".splitlines()[0]
    print(drill.summary(), flush=True)
    write_section(
        RELIABILITY_MD,
        f"drill-monitor-{drill.name.removeprefix('monitor_').replace('_', '-')}",
        drill.markdown(what, notes(drill)),
        title="Reliability",
    )
    print(f"Wrote its section of {RELIABILITY_MD}.", flush=True)
    return 0 if drill.passed else 1


@contextlib.contextmanager
def host_logs_on_failure(hosts: list[HostProcess]) -> Iterator[None]:
    """Print the tail of each host's log when the drill fails inside."""
    try:
        yield
    except BaseException:
        for host in hosts:
            print(f"--- last lines of {host.log_path} ---", file=sys.stderr)
            print("\n".join(host.log_text().splitlines()[-30:]), file=sys.stderr)
        raise
