"""Drill: Table Storage (Azurite) stops during an outage and comes back.

One monitor (`lvmbeat monitor serve`, a check every second, alert after 6 s of
silence) on an Azurite that keeps its tables on disk, and a real SMTP server.
Heartbeats stop; Azurite is stopped for several checks (they log the error and go
on; /heartbeat and /status answer 503; the host keeps running); Azurite restarts on
the same port with the same files. The alert goes out exactly once; heartbeats
resume and the all-clear goes out exactly once.

    .venv/bin/python bench/drills/monitor_storage_restart.py
"""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path

from _monitor_support import (
    CHECK_FAILED_LOG,
    RESUMED_LOG,
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
    stop_azurite_cleanly,
    tally,
    wait_for_checks,
    wait_until,
)

from lvmbeat_local.dev.smtp import start_smtp_server
from lvmbeat_local.host.process import HostProcess


GRACE = 6  # LVMBEAT_SEND_EMAIL_AFTER, seconds
DOWN_CHECKS = 8  # checks that run while Azurite is down


def drill_body(drill: Drill, scratch: Path, stack: contextlib.ExitStack) -> None:
    azurite = start_azurite(scratch, persistent=True)
    azurites = [azurite]
    stack.callback(lambda: stop_azurite_cleanly(azurites[-1]))
    smtp = start_smtp_server()
    stack.callback(smtp.stop)
    sink = smtp.sink
    key = new_key()
    settings = monitor_settings(
        azurite, new_table_name("storage"), smtp, send_email_after=GRACE, key=key
    )
    host = start_monitor_logged(settings, scratch, stack)
    client = MonitorClient(host, key)
    stack.callback(client.close)
    beats = Heartbeats(client)
    stack.callback(beats.stop)

    drill.step("LCO sends heartbeats; the monitor runs its first checks")
    beats.start()
    wait_for_checks([host], 2, timeout=20)
    drill.step("LCO's heartbeats stop")
    beats.stop()
    before = client.status().json()
    wait_for_checks([host], 2, timeout=10)

    drill.step("Azurite stops (SIGINT: it saves its tables and exits)")
    failed_before = log_count(host, CHECK_FAILED_LOG)
    code = stop_azurite_cleanly(azurite)
    drill.check("Azurite stopped cleanly (exit 0)", code == 0)
    down_at = time.monotonic()
    runs = check_runs(host)
    answers: dict[str, list[int]] = {"heartbeat": [], "status": []}

    def probe() -> bool:
        answers["heartbeat"].append(client.heartbeat().status_code)
        answers["status"].append(client.status().status_code)
        return check_runs(host) >= runs + DOWN_CHECKS

    wait_until(probe, timeout=DOWN_CHECKS + 30, what="checks while Azurite is down")
    failed = log_count(host, CHECK_FAILED_LOG) - failed_before
    drill.number("checks while Azurite was down", check_runs(host) - runs)
    drill.number("of them logged 'Check failed' with the storage error", failed)
    drill.number(
        "/heartbeat answers while down",
        ", ".join(f"{n}x {s}" for s, n in _counted(answers["heartbeat"])),
    )
    drill.number(
        "/status answers while down",
        ", ".join(f"{n}x {s}" for s, n in _counted(answers["status"])),
    )
    drill.check(
        "every check while down failed with a logged error, none crashed the host",
        failed >= DOWN_CHECKS and host.process.poll() is None,
    )
    drill.check(
        "/heartbeat and /status answered 503 while Azurite was down",
        set(answers["heartbeat"]) == {503} and set(answers["status"]) == {503},
    )
    log_text = host.log_text()
    drill.check(
        "the logged error names the operation and the table, not the key",
        "Could not read the monitor state in table" in log_text
        and "AccountKey" not in log_text,
    )

    drill.step("Azurite restarts on the same port with the same files")
    azurite = start_azurite(scratch, port=azurite.port, persistent=True)
    azurites.append(azurite)
    up_at = time.monotonic()
    drill.number("Azurite away (stop to listening again)", f"{up_at - down_at:.1f} s")
    after = wait_for_status(client)
    drill.check(
        "the state survived the restart (same last_seen as before)",
        after["last_seen"] == before["last_seen"] is not None,
    )
    delay = wait_until(
        lambda: count(sink, "down") >= 1,
        timeout=2 * GRACE + 30,
        what="the alert after Azurite returned",
    )
    drill.number("alert delivered after Azurite returned", f"{delay:.1f} s")
    resumed = log_count(host, RESUMED_LOG)
    drill.number("checks that counted the silence from the return ('resumed')", resumed)
    wait_until(
        lambda: alert_delivered(client.status().json()),
        timeout=10,
        what="the alert confirmed in /status",
    )

    drill.step("LCO's heartbeats resume")
    beats.start()
    delay = wait_until(lambda: count(sink, "up") >= 1, timeout=20, what="the all-clear")
    drill.number("all-clear delivered after heartbeats resumed", f"{delay:.1f} s")
    drill.step("heartbeats go on for three more checks: nothing else may arrive")
    wait_for_checks([host], 3, timeout=20)
    beats.stop()
    drill.received = tally(sink)
    in_order = kinds(sink)[:2] == ["down", "up"]
    drill.check("the alert came before the all-clear", in_order)
    code = host.stop()
    drill.check("the monitor ran throughout and stopped cleanly (exit 0)", code == 0)


def start_monitor_logged(
    settings: dict[str, str], scratch: Path, stack: contextlib.ExitStack
) -> HostProcess:
    host = start_monitor(settings, scratch / "monitor.log")
    stack.callback(host.stop)
    stack.enter_context(host_logs_on_failure([host]))
    return host


def wait_for_status(client: MonitorClient) -> dict:
    answer: dict = {}

    def ok() -> bool:
        nonlocal answer
        response = client.status()
        answer = response.json()
        return response.status_code == 200

    wait_until(ok, timeout=15, what="/status answering 200 after the restart")
    return answer


def _counted(values: list[int]) -> list[tuple[int, int]]:
    return sorted((value, values.count(value)) for value in set(values))


def notes(drill: Drill) -> list[str]:
    return [
        "Why it holds: a check that cannot read its state writes and sends nothing: "
        "it logs the error and the timer goes on. Whatever was decided before "
        "lives in the table, so it is still there after the restart. Storage "
        "being away looks to the monitor exactly like its own downtime (no "
        "heartbeat can be recorded, no check can record that it watched), so when "
        "the silence is older than `late` + 3 periods with no watching check inside "
        "it, the first check back counts the silence from its return (`resumed`) "
        "and the alert follows one grace later. That delays the alert by up to one "
        "grace; it never drops it, and never alerts for a silence the monitor "
        "could not see.",
        "",
        "Azurite is stopped with SIGINT, on which it saves its tables; SIGTERM kills "
        "it before its disk store (saved every 5 s) is written, which would lose "
        "the last writes: an emulator artefact, not Table Storage's behaviour.",
    ]


def main() -> int:
    drill = Drill(
        name="monitor_storage_restart",
        title="Table Storage (Azurite) stopped and restarted during an outage",
        command=".venv/bin/python bench/drills/monitor_storage_restart.py",
        expected={"alert": 1, "all-clear": 1},
    )
    what = [
        f"One monitor host (`lvmbeat monitor serve`, a check every second, "
        f"`LVMBEAT_SEND_EMAIL_AFTER={GRACE}`) on an Azurite that keeps its tables on "
        "disk, and a real SMTP server (aiosmtpd), all on loopback. Heartbeats run, "
        "then stop. Two checks later Azurite is stopped; it stays down for "
        f"{DOWN_CHECKS} checks while /heartbeat and /status are called. Azurite "
        "restarts on the same port with the same files. Once the alert arrived, "
        "heartbeats resume. Emails are counted at the SMTP server."
    ]
    return run_drill(drill, drill_body, what=what, notes=notes)


if __name__ == "__main__":
    sys.exit(main())
