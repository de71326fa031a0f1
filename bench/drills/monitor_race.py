"""Drill: four monitors race through 50 outages on one table.

Four `lvmbeat monitor serve` processes (as four Functions instances would be), each
with its own timer firing every second, on one Azurite table and one SMTP server.
Each cycle: heartbeats stop, so the alert falls due on all four at the same tick;
once it arrived, one heartbeat (to the next host in turn), so the all-clear falls
due on all four at the next tick. Exactly 50 alerts and 50 all-clears must arrive,
alternating.

    .venv/bin/python bench/drills/monitor_race.py [--cycles 50]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _monitor_support import (
    CHECK_FAILED_LOG,
    DELIVERED_LOG,
    Drill,
    Heartbeats,
    MonitorClient,
    check_runs,
    count,
    host_logs_on_failure,
    kinds,
    log_count,
    monitor_settings,
    new_key,
    new_table_name,
    quantile,
    run_drill,
    start_azurite,
    start_monitor,
    tally,
    wait_for_checks,
    wait_until,
)

from lvmbeat_local.dev.smtp import start_smtp_server


HOSTS = 4
GRACE = 2  # LVMBEAT_SEND_EMAIL_AFTER, seconds: the least two 1 s check periods allow


def make_body(cycles: int):
    def drill_body(drill: Drill, scratch: Path, stack: contextlib.ExitStack) -> None:
        azurite = start_azurite(scratch)
        stack.callback(azurite.stop)
        smtp = start_smtp_server()
        stack.callback(smtp.stop)
        sink = smtp.sink
        key = new_key()
        settings = monitor_settings(
            azurite, new_table_name("race"), smtp, send_email_after=GRACE, key=key
        )
        drill.step(f"starting {HOSTS} monitor hosts on one table (heartbeats on)")
        with ThreadPoolExecutor(HOSTS) as pool:
            hosts = list(
                pool.map(
                    lambda i: start_monitor(settings, scratch / f"monitor-{i}.log"),
                    range(HOSTS),
                )
            )
        for host in hosts:
            stack.callback(host.stop)
        stack.enter_context(host_logs_on_failure(hosts))
        clients = [MonitorClient(host, key) for host in hosts]
        for client in clients:
            stack.callback(client.close)
        beats = Heartbeats(clients[0]).start()
        stack.callback(beats.stop)
        wait_for_checks(hosts, 2, timeout=20)

        drill.step(f"{cycles} outage cycles")
        beats.stop()
        durations: list[float] = []
        for cycle in range(1, cycles + 1):
            started = time.monotonic()
            wait_until(
                lambda c=cycle: count(sink, "down") >= c,
                timeout=20,
                what=f"alert {cycle}",
            )
            answer = clients[cycle % HOSTS].heartbeat()
            if answer.status_code != 200:
                raise RuntimeError(f"heartbeat {cycle} answered {answer.status_code}")
            wait_until(
                lambda c=cycle: count(sink, "up") >= c,
                timeout=20,
                what=f"all-clear {cycle}",
            )
            durations.append(time.monotonic() - started)
            if cycle % 10 == 0:
                drill.step(f"cycle {cycle}: {tally(sink)}")

        drill.step("heartbeats go on for three more checks on every host")
        beats.start()
        wait_for_checks(hosts, 3, timeout=20)
        beats.stop()
        drill.received = tally(sink)
        received = kinds(sink)
        drill.check(
            "alerts and all-clears alternate, starting with an alert",
            received == ["down", "up"] * (len(received) // 2),
        )
        drill.number("cycles", cycles)
        drill.number("check runs (all hosts)", sum(check_runs(h) for h in hosts))
        drill.number(
            "cycle time (alert + all-clear), median / max",
            f"{quantile(durations, 0.5):.1f} s / {max(durations):.1f} s",
        )
        drill.number(
            "alerts sent by host 1-4",
            " / ".join(str(delivered(h, "down")) for h in hosts),
        )
        drill.number(
            "all-clears sent by host 1-4",
            " / ".join(str(delivered(h, "up")) for h in hosts),
        )
        drill.number(
            "conditional writes that lost a race (HTTP 412 at Azurite)",
            azurite.log_path.read_text(errors="replace").count('HTTP/1.1" 412'),
        )
        drill.number(
            "checks that failed (log)",
            sum(log_count(h, CHECK_FAILED_LOG) for h in hosts),
        )
        codes = [h.stop() for h in hosts]
        drill.check(
            f"all {HOSTS} hosts ran throughout and stopped cleanly (exit 0)",
            codes == [0] * HOSTS,
        )

    return drill_body


def delivered(host, kind: str) -> int:
    return log_count(host, DELIVERED_LOG.format(kind=kind))


def notes(drill: Drill) -> list[str]:
    return [
        "Mode: four real host processes, each with its own 1-second timer, so the "
        "four checks of each tick really race (no injected clock).",
        "",
        "Why it holds: a check changes the `state` entity only with the ETag it "
        "read (`If-Match`); of the checkers that decided to alert at the same tick, "
        "the first conditional write wins the claim and sends, the others get 412, "
        "re-read, and find the notice claimed (`busy`) or already sent. Heartbeats "
        "go to their own entity, which no check writes, so none is lost to a race.",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=50)
    cycles = parser.parse_args().cycles
    command = ".venv/bin/python bench/drills/monitor_race.py"
    if cycles != 50:
        command += f" --cycles {cycles}"
    drill = Drill(
        name="monitor_race",
        title=f"{HOSTS} monitors racing through {cycles} outages on one table",
        command=command,
        expected={"alert": cycles, "all-clear": cycles},
    )
    what = [
        f"{HOSTS} monitor hosts (`lvmbeat monitor serve`, separate processes, a "
        f"check every second each, `LVMBEAT_SEND_EMAIL_AFTER={GRACE}`) on one "
        "Azurite table and one real SMTP server (aiosmtpd), all on loopback. "
        f"{cycles} cycles: heartbeats stop until the alert arrives at the SMTP "
        "server, then one heartbeat (to the next host in turn) and wait for the "
        "all-clear. Afterwards heartbeats run for three more checks on every "
        "host, so a late duplicate would still be counted."
    ]
    return run_drill(drill, make_body(cycles), what=what, notes=notes)


if __name__ == "__main__":
    sys.exit(main())
