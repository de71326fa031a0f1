"""Drill: a monitor is killed (SIGKILL) in the middle of sending the alert.

A monitor (`lvmbeat monitor serve`, a check every second, alert after 2 s of silence)
claims the alert and starts the SMTP delivery; the SMTP server holds the message
without answering. The monitor is killed right then, between its claim and its
confirm. A restarted monitor on the same table must deliver the alert: possibly a
second time, never zero times. Two SMTP servers, run side by side on two tables,
show both ways a real server can treat the dead client's message:

- `queued`: the server had queued the message before the client died (it only never
  heard the 250): the restarted monitor's copy is a second one (a repeat);
- `dropped`: the server was still working on it and dropped it when the client hung
  up: the restarted monitor's copy is the only one (without it, a loss).

    .venv/bin/python bench/drills/monitor_killed_mid_check.py
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from _monitor_support import (
    DELIVERED_LOG,
    FAILED_LOG,
    Drill,
    Heartbeats,
    MonitorClient,
    alert_delivered,
    check_runs,
    count,
    host_logs_on_failure,
    kinds,
    log_count,
    monitor_settings,
    new_key,
    new_table_name,
    run_drill,
    start_azurite,
    start_monitor,
    start_smtp_with,
    tally,
    wait_for_checks,
    wait_until,
)

from lvmbeat_local.dev.ports import free_port
from lvmbeat_local.dev.smtp import SmtpServer, SmtpSink
from lvmbeat_local.host.process import HostProcess
from lvmbeat_monitor.decide import CLAIM_LEASE


GRACE = 2  # LVMBEAT_SEND_EMAIL_AFTER, seconds


@dataclass
class HoldingSink(SmtpSink):
    """An SMTP sink that holds the next message without answering, until released
    or until the client hangs up (aiosmtpd then cancels the handler).

    `queue_first`: the message counts as delivered as soon as it arrived (a server
    that queued it and was slow to say 250); otherwise only once answered (a server
    that drops what it had not finished when the client left)."""

    queue_first: bool = False
    hold_next: int = 1
    held: threading.Event = field(default_factory=threading.Event)
    hung_up: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd
        if self.hold_next <= 0:
            return await super().handle_DATA(server, session, envelope)
        self.hold_next -= 1
        reply = None
        if self.queue_first:
            reply = await super().handle_DATA(server, session, envelope)
        self.held.set()
        try:
            await asyncio.to_thread(self.release.wait)
        except asyncio.CancelledError:
            self.hung_up.set()  # the client went away before our answer
            raise
        if reply is None:
            reply = await super().handle_DATA(server, session, envelope)
        return reply


@dataclass
class Variant:
    """One side of the drill: its table, SMTP server, killed and restarted monitor."""

    name: str
    sink: HoldingSink
    smtp: SmtpServer
    settings: dict[str, str]
    key: str
    killed: HostProcess | None = None
    restarted: HostProcess | None = None
    killed_at: float = 0.0
    numbers: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"alert ({self.name})"


def drill_body(drill: Drill, scratch: Path, stack: contextlib.ExitStack) -> None:
    azurite = start_azurite(scratch)
    stack.callback(azurite.stop)
    variants: list[Variant] = []
    for name, queue_first in (("queued", True), ("dropped", False)):
        sink = HoldingSink(queue_first=queue_first)
        smtp = start_smtp_with(sink, "127.0.0.1", free_port())
        stack.callback(smtp.stop)
        stack.callback(sink.release.set)  # (LIFO) frees a held handler's thread first
        key = new_key()
        settings = monitor_settings(
            azurite, new_table_name(name), smtp, send_email_after=GRACE, key=key
        )
        variants.append(Variant(name, sink, smtp, settings, key))

    hosts: list[HostProcess] = []
    stack.enter_context(host_logs_on_failure(hosts))

    def start(variant: Variant, label: str) -> tuple[HostProcess, MonitorClient]:
        host = start_monitor(variant.settings, scratch / f"{variant.name}-{label}.log")
        stack.callback(host.stop)
        hosts.append(host)
        client = MonitorClient(host, variant.key)
        stack.callback(client.close)
        return host, client

    drill.step("one monitor per table; LCO's heartbeats run, then stop")
    first_beats = []
    for variant in variants:
        variant.killed, client = start(variant, "first")
        first_beats.append(Heartbeats(client).start())
    wait_for_checks([variant.killed for variant in variants], 2, timeout=20)
    for beat in first_beats:
        beat.stop()

    drill.step("waiting for each monitor to claim the alert and start sending it")
    for variant in variants:
        wait_until(
            variant.sink.held.is_set,
            timeout=GRACE + 20,
            what=f"{variant.name}: the alert's delivery reaching the SMTP server",
        )
        variant.killed.process.send_signal(signal.SIGKILL)
        variant.killed_at = time.monotonic()
    for variant in variants:
        code = variant.killed.process.wait(timeout=10)
        log = variant.killed.log_text()
        drill.check(
            f"{variant.name}: the first monitor was killed while the SMTP server "
            "held its alert (SIGKILL; its log shows no outcome of the send)",
            code == -signal.SIGKILL
            and DELIVERED_LOG.format(kind="down") not in log
            and FAILED_LOG.format(kind="down") not in log,
        )
        wait_until(
            variant.sink.hung_up.is_set,
            timeout=10,
            what=f"{variant.name}: the SMTP server seeing the client hang up",
        )
        variant.sink.release.set()  # its handler was cancelled; free the thread
        variant.numbers["copies at the server after the kill"] = str(
            count(variant.sink, "down")
        )

    drill.step(
        "a restarted monitor on each table; the dead one's claim runs "
        f"{CLAIM_LEASE.total_seconds():.0f} s"
    )
    clients: dict[str, MonitorClient] = {}
    for variant in variants:
        variant.restarted, clients[variant.name] = start(variant, "restarted")
        answer = clients[variant.name].status().json()
        drill.check(
            f"{variant.name}: after the kill /status shows the alert pending "
            "(claimed, not confirmed)",
            answer["pending"] == "down" and answer["active"],
        )

    for variant in variants:
        client = clients[variant.name]
        wait_until(
            lambda c=client: alert_delivered(c.status().json()),
            timeout=CLAIM_LEASE.total_seconds() + 60,
            what=f"{variant.name}: the restarted monitor delivering the alert",
            every=0.5,
        )
        waited = time.monotonic() - variant.killed_at
        variant.numbers["alert confirmed after the kill"] = f"{waited:.1f} s"

    drill.step("heartbeats resume: one all-clear each")
    beats = [Heartbeats(clients[variant.name]).start() for variant in variants]
    for beat in beats:
        stack.callback(beat.stop)
    for variant in variants:
        wait_until(
            lambda v=variant: count(v.sink, "up") >= 1,
            timeout=20,
            what=f"{variant.name}: the all-clear",
        )
    drill.step("heartbeats go on for three more checks: nothing else may arrive")
    wait_for_checks([variant.restarted for variant in variants], 3, timeout=20)
    for variant in variants:
        found = tally(variant.sink)
        drill.received[variant.label] = found.pop("alert")
        drill.received[f"all-clear ({variant.name})"] = found.pop("all-clear")
        for kind, n in found.items():
            drill.received[f"{kind} ({variant.name})"] = n
        received = kinds(variant.sink)
        drill.check(
            f"{variant.name}: every alert copy came before the all-clear",
            received[-1] == "up" and "up" not in received[:-1],
        )
        variant.numbers["checks run by the restarted monitor (whole drill)"] = str(
            check_runs(variant.restarted)
        )
        variant.numbers["alert sends logged by the restarted monitor"] = str(
            log_count(variant.restarted, DELIVERED_LOG.format(kind="down"))
        )
        for name, value in variant.numbers.items():
            drill.number(f"{variant.name}: {name}", value)
    for beat in beats:
        beat.stop()
    for variant in variants:
        code = variant.restarted.stop()
        drill.check(f"{variant.name}: the restarted monitor stopped cleanly", code == 0)


def notes(drill: Drill) -> list[str]:
    queued = drill.received.get("alert (queued)", 0)
    dropped = drill.received.get("alert (dropped)", 0)
    return [
        f"Copies of the alert: {queued} where the server had queued the message "
        f"before the monitor died, {dropped} where it dropped it.",
        "",
        "Why: the check writes its claim (`pending` = the alert, claimed by this "
        "instance until now + the lease) before it sends, and clears `pending` only "
        "after the server's 250. Killed in between, the monitor leaves the claim in "
        "the table; nobody knows whether the server kept the message. Every other "
        "or restarted monitor sees the claim, waits out the lease "
        f"({CLAIM_LEASE.total_seconds():.0f} s, `busy`), then claims and sends it "
        "again (`retry`). If the server had kept the first copy, people get it "
        "twice; if not, the retry is the only copy. That is the contract's \"a "
        'crash between claim and confirm may cause a repeat, never a loss": the '
        "monitor prefers a duplicate to silence. The cost is the lease: the "
        f"alert reaches people up to {CLAIM_LEASE.total_seconds():.0f} s late after "
        "such a crash.",
        "",
        "The repeat cannot be removed by the monitor alone (SMTP and ACS give no "
        "way to ask whether an earlier attempt was kept); a stable Message-ID per "
        "notice (today each attempt gets a new one) would let mail systems that "
        "de-duplicate on it drop the second copy.",
    ]


def main() -> int:
    drill = Drill(
        name="monitor_killed_mid_check",
        title="a monitor killed (SIGKILL) while it sends the alert",
        command=".venv/bin/python bench/drills/monitor_killed_mid_check.py",
        expected={
            "alert (queued)": 1,
            "all-clear (queued)": 1,
            "alert (dropped)": 1,
            "all-clear (dropped)": 1,
        },
        allowed_extra={"alert (queued)": 1},
    )
    what = [
        "Two monitor setups side by side on loopback, each a table on Azurite and "
        "a real SMTP server (aiosmtpd) that holds the next message without "
        "answering. In each, a monitor host (`lvmbeat monitor serve`, a check every "
        f"second, `LVMBEAT_SEND_EMAIL_AFTER={GRACE}`) sees heartbeats stop, claims "
        "the alert and starts the SMTP delivery; while the server holds it, the "
        "host is killed with SIGKILL (between the claim and the confirm). One "
        "server (`queued`) had already queued the message, the other (`dropped`) "
        "drops it when the client hangs up. A new host is started on each table "
        "(the restarted monitor); once the alert is confirmed, heartbeats resume "
        "for the all-clear. Emails are counted at each server; for `queued` one "
        "repeat of the alert is what the contract allows."
    ]
    return run_drill(drill, drill_body, what=what, notes=notes)


if __name__ == "__main__":
    sys.exit(main())
