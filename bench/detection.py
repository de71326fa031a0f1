"""How long after LCO's last heartbeat the alert email arrives, and how long after
heartbeats resume the all-clear arrives, on the monitor's real timer.

Starts Azurite's table service, an SMTP server (aiosmtpd, the one the tests use) and
`lvmbeat monitor serve` (a child process, the real CLI and timer) with a short grace
and a one-second schedule, then plays outages: heartbeats every half second, silence
until the alert reaches the SMTP server, heartbeats again until the all-clear does.
Each delay is measured from the moment the last (or first) heartbeat request was sent,
so it can only overstate the monitor's delay.

Writes the "detection" section of docs/benchmarks.md. Standalone:
    .venv/bin/python bench/detection.py [--outages 20]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from monitor_stack import MonitorStack, running_azurite, running_host, settings_text
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

from lvmbeat_local.dev.smtp import SmtpServer, start_smtp_server


GRACE = 3
PERIOD = 1
SCHEDULE = "* * * * * *"
MARGIN = 1.0
BEAT_EVERY = 0.5
BEATS_BETWEEN = 2  # heartbeats before each silence (after the all-clear)
PRODUCTION = {"schedule": "*/30 * * * * *", "period": 30, "grace": 300}
FIRST_MONITOR_PERIOD = 120
ACTOR_INTERVAL = 15


@dataclass
class Delays:
    alert_s: list[float] = field(default_factory=list)
    all_clear_s: list[float] = field(default_factory=list)
    subjects: list[str] = field(default_factory=list)


def phase_delay(number: int, outages: int) -> float:
    """How long to wait so that outage `number` starts at phase number/outages of
    the check period, counted from now (any point of the period works as origin)."""
    now = time.time()
    target = (number / outages) * PERIOD
    return (target - now % PERIOD) % PERIOD


async def heartbeat(session: aiohttp.ClientSession, stack: MonitorStack) -> float:
    """Send one heartbeat; the time it was sent (perf_counter)."""
    sent = time.perf_counter()
    async with session.get(f"{stack.url}/heartbeat", headers=stack.headers) as r:
        if r.status != 200:
            raise RuntimeError(f"/heartbeat answered {r.status}: {await r.text()}")
    return sent


async def next_mail(smtp: SmtpServer, count: int, timeout: float) -> float:
    """Wait for the `count`-th message; the time it was seen (perf_counter)."""
    await asyncio.to_thread(smtp.sink.wait_for, count, timeout)
    return time.perf_counter()


async def play(stack: MonitorStack, smtp: SmtpServer, outages: int) -> Delays:
    delays = Delays()
    bound = GRACE + PERIOD + MARGIN
    async with aiohttp.ClientSession() as session:
        # Heartbeats for longer than a grace: the first check has counted from its
        # start, so the first outage is an ordinary one.
        for _ in range(int((GRACE + 2 * PERIOD) / BEAT_EVERY)):
            await heartbeat(session, stack)
            await asyncio.sleep(BEAT_EVERY)
        for number in range(outages):
            # Spread the last heartbeat over the check period (the timer fires on
            # whole seconds): the delay then covers its whole range, worst case too.
            await asyncio.sleep(phase_delay(number, outages))
            last = await heartbeat(session, stack)
            alert = await next_mail(smtp, 2 * number + 1, timeout=bound + 20)
            delays.alert_s.append(alert - last)
            await asyncio.sleep(phase_delay(outages - 1 - number, outages))
            first = await heartbeat(session, stack)
            clear = await next_mail(smtp, 2 * number + 2, timeout=PERIOD + 20)
            delays.all_clear_s.append(clear - first)
            for _ in range(BEATS_BETWEEN):
                await asyncio.sleep(BEAT_EVERY)
                await heartbeat(session, stack)
            await asyncio.sleep(BEAT_EVERY)
    delays.subjects = [str(mail.message["Subject"]) for mail in smtp.sink.messages]
    return delays


async def measure(outages: int) -> Delays:
    smtp = start_smtp_server()
    settings = {
        "LVMBEAT_EMAIL_BACKEND": "smtp",
        "LVMBEAT_EMAIL_HOST": smtp.host,
        "LVMBEAT_EMAIL_PORT": str(smtp.port),
        "LVMBEAT_EMAIL_TLS": "false",
        "LVMBEAT_SEND_EMAIL_AFTER": str(GRACE),
        "LVMBEAT_CHECK_SCHEDULE": SCHEDULE,
    }
    try:
        with tempfile.TemporaryDirectory() as workdir, running_azurite() as azurite:
            with running_host(
                Path(workdir), azurite.connection_string, **settings
            ) as s:
                return await play(s, smtp, outages)
    finally:
        smtp.stop()


def stats(values: list[float]) -> str:
    return (
        f"{len(values)} | {min(values):.2f} | {quantile(values, 0.5):.2f} | "
        f"{quantile(values, 0.99):.2f} | {max(values):.2f}"
    )


def section(delays: Delays, outages: int) -> str:
    bound = GRACE + PERIOD + MARGIN
    alerts_ok = max(delays.alert_s) <= bound
    clear_bound = PERIOD + MARGIN
    clear_ok = max(delays.all_clear_s) <= clear_bound
    downs = sum(1 for s in delays.subjects if s.endswith("internet is down"))
    ups = sum(1 for s in delays.subjects if s.startswith("RESOLVED"))
    grace, period = PRODUCTION["grace"], PRODUCTION["period"]
    settings = {
        "LVMBEAT_SEND_EMAIL_AFTER": str(GRACE),
        "LVMBEAT_CHECK_SCHEDULE": SCHEDULE,
    }
    alert_row = (
        f"| last heartbeat -> alert email | {stats(delays.alert_s)} | {bound:.0f} |"
    )
    clear_row = (
        f"| first heartbeat back -> all-clear email | {stats(delays.all_clear_s)} | "
        f"{clear_bound:.0f} |"
    )
    return f"""## Detection: last heartbeat to alert email

People must hear of an outage within a known time, and of its end. Measured with
`.venv/bin/python bench/detection.py --outages {outages}`: Azurite's table service,
an SMTP server (aiosmtpd) and `lvmbeat monitor serve` (child process, its real timer;
{settings_text(settings)}), all on loopback. Each outage: heartbeats every
{BEAT_EVERY} s, then silence until the alert reaches the SMTP server, then heartbeats
until the all-clear does. The last heartbeats of the {outages} outages, and the first
ones back, are spread evenly over the one-second check period, so the worst phase is
among them. Times run
from the moment the last (first) heartbeat was sent to the message's arrival.

Machine: {machine()}. Date: {now_utc()}; {load()} at the end of the run.

| delay | n | min s | p50 s | p99 s | max s | bound s |
|---|---|---|---|---|---|---|
{alert_row}
{clear_row}

- Target: the alert never later than send_email_after + one schedule period + 1 s
  ({GRACE} + {PERIOD} + 1 = {bound:.0f} s): **{"met" if alerts_ok else "missed"}**,
  worst {max(delays.alert_s):.2f} s. The all-clear within one period + 1 s:
  **{"met" if clear_ok else "missed"}**, worst {max(delays.all_clear_s):.2f} s.
- Every outage gave exactly one alert and one all-clear: {downs} "internet is down",
  {ups} "RESOLVED" for {outages} outages.
- The alert can never come before the grace: the first check that sees a silence
  longer than `send_email_after` sends it, so the delay lies in (grace, grace + P]
  plus the check's own run and the SMTP send.

**In production** (Bicep default `LVMBEAT_CHECK_SCHEDULE={PRODUCTION["schedule"]}`,
`LVMBEAT_SEND_EMAIL_AFTER={grace}`): the alert arrives at most {grace} + {period} + ε
= about {grace + period} s after the last heartbeat the monitor received, ε being one
check's run plus the ACS send (its poll is bounded at 45 s; typically a few seconds).
The actor calls every {ACTOR_INTERVAL} s, so from the moment LCO lost its link that
is {grace - ACTOR_INTERVAL} to {grace + period} s + ε. The all-clear follows within
{period} s + ε of the first heartbeat back. The first monitor checked every
{FIRST_MONITOR_PERIOD} s: its alert came up to {grace} + {FIRST_MONITOR_PERIOD} =
{grace + FIRST_MONITOR_PERIOD} s after the last heartbeat, and its all-clear up to
{FIRST_MONITOR_PERIOD} s after the link returned; the bound is now
{FIRST_MONITOR_PERIOD - period} s shorter for both."""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outages", type=int, default=20)
    parser.add_argument(
        "--no-write", action="store_true", help="print only; leave docs/ untouched"
    )
    args = parser.parse_args()
    delays = asyncio.run(measure(args.outages))
    text = section(delays, args.outages)
    print(text)
    bound, clear_bound = GRACE + PERIOD + MARGIN, PERIOD + MARGIN
    worst, worst_clear = max(delays.alert_s), max(delays.all_clear_s)
    downs = sum(1 for s in delays.subjects if s.endswith("internet is down"))
    ups = sum(1 for s in delays.subjects if s.startswith("RESOLVED"))
    record_targets(
        "detection",
        [
            (
                f"alert within send_email_after + period + 1 s ({GRACE} + {PERIOD} "
                f"+ 1 = {bound:.0f} s; production 300 + 30 + ε)",
                f"max {worst:.2f} s over {len(delays.alert_s)} outages",
                "met" if worst <= bound else f"missed by {worst - bound:.2f} s",
            ),
            (
                f"all-clear within period + 1 s ({clear_bound:.0f} s)",
                f"max {worst_clear:.2f} s",
                "met"
                if worst_clear <= clear_bound
                else f"missed by {worst_clear - clear_bound:.2f} s",
            ),
            (
                "one alert and one all-clear per outage",
                f"{downs} alerts, {ups} all-clears for {args.outages} outages",
                "met" if downs == ups == args.outages else "missed",
            ),
        ],
    )
    if not args.no_write:
        write_section(BENCHMARKS_MD, "detection", text, title="Benchmarks")
        print(f"Updated {BENCHMARKS_MD.relative_to(REPO_ROOT)}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
