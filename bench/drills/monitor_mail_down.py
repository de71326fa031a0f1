"""Drill: the mail server is down when the alert is due, then comes back.

One monitor (`lvmbeat monitor serve`, a check every second, alert after 3 s of
silence) on Azurite and a real SMTP server. Heartbeats stop and the SMTP server is
stopped (connection refused) for several checks: each check retries the pending alert
and /status shows `last_error`. The server returns: the alert arrives exactly once.
Then the all-clear meets a server that answers 451 three times: it arrives exactly
once too.

    .venv/bin/python bench/drills/monitor_mail_down.py
"""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path

from _monitor_support import (
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
    restart_smtp,
    run_drill,
    start_azurite,
    start_monitor,
    tally,
    wait_for_checks,
    wait_until,
)

from lvmbeat_local.dev.smtp import start_smtp_server


GRACE = 3  # LVMBEAT_SEND_EMAIL_AFTER, seconds
DOWN_CHECKS = 8  # checks that run while the SMTP server is unreachable
REFUSALS = 3  # 451 answers the all-clear meets


def drill_body(drill: Drill, scratch: Path, stack: contextlib.ExitStack) -> None:
    azurite = start_azurite(scratch)
    stack.callback(azurite.stop)
    smtp = start_smtp_server()
    servers = [smtp]
    stack.callback(lambda: servers[-1].stop())
    sink = smtp.sink
    key = new_key()
    settings = monitor_settings(
        azurite, new_table_name("maildown"), smtp, send_email_after=GRACE, key=key
    )
    host = start_monitor(settings, scratch / "monitor.log")
    stack.callback(host.stop)
    stack.enter_context(host_logs_on_failure([host]))
    client = MonitorClient(host, key)
    stack.callback(client.close)
    beats = Heartbeats(client)
    stack.callback(beats.stop)

    drill.step("LCO sends heartbeats; the monitor runs its first checks")
    beats.start()
    wait_for_checks([host], 2, timeout=20)

    drill.step("the SMTP server stops; then LCO's heartbeats stop")
    smtp.stop()
    beats.stop()

    def status() -> dict:
        return client.status().json()

    drill.step("waiting for the alert to be decided (its send fails)")
    wait_until(
        lambda: status()["pending"] == "down",
        timeout=GRACE + 15,
        what="the alert pending while the mail server is down",
    )
    first_failure = time.monotonic()
    failed_before = log_count(host, FAILED_LOG.format(kind="down"))
    runs = check_runs(host)
    wait_until(
        lambda: check_runs(host) >= runs + DOWN_CHECKS,
        timeout=DOWN_CHECKS + 20,
        what="checks while the SMTP server is down",
    )
    down_status = status()
    attempts = log_count(host, FAILED_LOG.format(kind="down")) - failed_before
    drill.number(
        "checks with the alert pending while the server was down",
        check_runs(host) - runs,
    )
    drill.number("failed send attempts logged while down", attempts)
    drill.number("last_error while down", f"`{down_status['last_error']}`")
    drill.check(
        "/status showed the alert pending and last_error while the server was down",
        down_status["pending"] == "down"
        and down_status["last_error"] == "unreachable"
        and down_status["channels"]["email"]["last_error"] == "unreachable",
    )
    drill.check(
        "every check retried the alert (one failed attempt per check)",
        attempts >= DOWN_CHECKS,
    )
    drill.check("nothing reached the stopped server", not kinds(sink))

    drill.step("the SMTP server comes back on the same port")
    servers.append(restart_smtp(smtp))
    back = time.monotonic()
    delay = wait_until(
        lambda: count(sink, "down") >= 1, timeout=10, what="the alert after return"
    )
    drill.number("alert delivered after the server returned", f"{delay:.1f} s")
    drill.number(
        "alert delayed by the mail outage",
        f"{back - first_failure + delay:.1f} s",
    )
    wait_until(
        lambda: alert_delivered(status()),
        timeout=10,
        what="the alert confirmed in /status",
    )
    drill.check(
        "/status clears last_error once the alert went out", not status()["last_error"]
    )

    drill.step(f"the server will answer 451 {REFUSALS} times; heartbeats resume")
    sink.fail_next = REFUSALS
    beats.start()
    refused: set[str] = set()

    def all_clear_arrived() -> bool:
        answer = status()
        if answer["last_error"]:
            refused.add(answer["last_error"])
        return count(sink, "up") >= 1

    delay = wait_until(all_clear_arrived, timeout=REFUSALS + 20, what="all-clear")
    drill.number("all-clear delivered after heartbeats resumed", f"{delay:.1f} s")
    drill.check(
        f"the all-clear met {REFUSALS} refusals (451) and /status showed them",
        sink.fail_next == 0 and "refused" in refused,
    )

    drill.step("heartbeats go on for three more checks: nothing else may arrive")
    wait_for_checks([host], 3, timeout=20)
    beats.stop()
    received = kinds(sink)
    drill.received = tally(sink)
    drill.check("the alert came before the all-clear", received[:2] == ["down", "up"])
    drill.number(
        "send failures logged by the monitor",
        log_count(host, FAILED_LOG.format(kind="down"))
        + log_count(host, FAILED_LOG.format(kind="up")),
    )
    code = host.stop()
    drill.check("the monitor ran throughout and stopped cleanly (exit 0)", code == 0)


def notes(drill: Drill) -> list[str]:
    return [
        "Why it holds: the check claims the alert in Table Storage before it sends "
        "(`pending` + a claim), and a failed send releases the claim and records "
        "`last_error` (its kind: /status is anonymous), so the notice stays "
        "pending and the next check retries it at once. Only a send the server "
        "accepted clears `pending`; the all-clear waits for the alert (one "
        "notice at a time, in order), so it cannot overtake it."
    ]


def main() -> int:
    drill = Drill(
        name="monitor_mail_down",
        title="the mail server down when the alert is due",
        command=".venv/bin/python bench/drills/monitor_mail_down.py",
        expected={"alert": 1, "all-clear": 1},
    )
    what = [
        f"One monitor host (`lvmbeat monitor serve`, a check every second, "
        f"`LVMBEAT_SEND_EMAIL_AFTER={GRACE}`) on Azurite and a real SMTP server "
        "(aiosmtpd), all on loopback. Heartbeats run, then the SMTP server is "
        f"stopped (connection refused) and heartbeats stop. The alert falls due and "
        f"fails; the server stays down for {DOWN_CHECKS} more checks while /status "
        "is read. The server restarts on the same port. Then heartbeats resume and "
        f"the server answers `451` to the next {REFUSALS} deliveries (the "
        "all-clear's first attempts). Emails are counted at the server."
    ]
    return run_drill(drill, drill_body, what=what, notes=notes)


if __name__ == "__main__":
    sys.exit(main())
