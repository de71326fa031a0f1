"""Drill: lvmecp is killed (SIGKILL) and restarted while heartbeats flow.

The actor runs in its own process with production timings (cutoff 10 s, command
timeout 5 s); the simulated lvmecp runs as `lvmbeat simulate ecp`, a separate process
the drill kills with SIGKILL (no goodbye to the broker, as when its host dies) and
starts again DOWNTIME seconds later. An Overwatcher stand-in sends `set overwatcher`
every second and an lvmecp-style poller sends `status` every second with a 5 s limit.

The real PLC keeps counting while lvmecp is down, so the drill models the dome timer
across both lvmecp processes: the dome would close if the gap between the last
heartbeat before the kill and the first after the restart reached the dome timeout.

Passes when every `set` answers promptly during the outage (p99 below 1 s, none
unanswered), `status` shows the failed emissions meanwhile, heartbeats resume after the
restart, and the gap stays below the dome timeout. Prints the numbers and what was
lost; writes the "drill-actor-ecp-restart" section of docs/reliability.md.

    .venv/bin/python bench/drills/actor_ecp_restart.py [--downtime 15] [--no-write]
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from _actor_common import (
    BROKER_PORT,
    STATUS_LIMIT,
    ActorProcess,
    DrillError,
    EcpProcess,
    LoopbackListener,
    Pacer,
    Verdict,
    actor_config,
    drill_main,
    latency_summary,
    machine,
    now_utc,
    quantile,
    timed_command,
    unique,
    wait_answering,
    workdir,
)

from clu import AMQPClient


SECTION = "drill-actor-ecp-restart"
DOME_TIMEOUT = 60.0
CUTOFF = 10.0
COMMAND_TIMEOUT = 5.0
SET_PERIOD = 1.0
STATUS_PERIOD = 1.0
WARMUP = 12.0
AFTER_RETURN = 8.0
PROMPT_P99 = 1.0  # seconds: "prompt" for a `set` during the outage
FAILED_STATES = ("timeout", "failed")


async def wait_first_arrival(ecp: EcpProcess, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        arrivals = ecp.arrivals()
        if arrivals:
            return arrivals[0]
        if ecp.process.poll() is not None:
            raise DrillError(f"the restarted lvmecp exited: {ecp.output.tail()}")
        await asyncio.sleep(0.05)
    raise DrillError(f"no heartbeat reached the restarted lvmecp within {timeout} s")


async def run(downtime: float, echo: bool) -> tuple[Verdict, str]:
    actor_name, ecp_name = unique("lvmbeat"), unique("lvmecp")
    listener = LoopbackListener()
    await listener.open()
    client = AMQPClient(host="127.0.0.1")
    first = second = None
    with workdir() as tmp:
        config = actor_config(
            Path(tmp),
            actor_name,
            port=BROKER_PORT,
            checks_port=listener.port,
            overrides={
                "ecp": {
                    "actor": ecp_name,
                    "cutoff": CUTOFF,
                    "command_timeout": COMMAND_TIMEOUT,
                }
            },
        )
        actor = ActorProcess(config, actor_name, echo=echo)
        first = EcpProcess(ecp_name, DOME_TIMEOUT, echo=echo)
        await client.start()
        sets = Pacer(client, actor_name, "set overwatcher", SET_PERIOD, STATUS_LIMIT)
        polls = Pacer(client, actor_name, "status", STATUS_PERIOD, STATUS_LIMIT)
        try:
            await actor.connected()
            await wait_answering(client, actor_name)
            await wait_answering(client, ecp_name)
            sets.start()
            polls.start()
            await asyncio.sleep(WARMUP)
            before = first.arrivals()
            if not before:
                raise DrillError("no heartbeat reached lvmecp before the kill")

            print(f"-- SIGKILL lvmecp; restart in {downtime:g} s", flush=True)
            killed = time.monotonic()
            first.kill()
            before = first.arrivals()
            await asyncio.sleep(downtime)
            restarted = time.monotonic()
            second = EcpProcess(ecp_name, DOME_TIMEOUT, echo=echo)
            await wait_answering(client, ecp_name)
            answering = time.monotonic()
            resumed = await wait_first_arrival(
                second, timeout=CUTOFF + COMMAND_TIMEOUT + 10
            )
            gap = resumed - before[-1]
            print(f"-- heartbeats resumed; gap {gap:.1f} s", flush=True)
            await asyncio.sleep(AFTER_RETURN)
            await sets.stop()
            await polls.stop()
            ended = time.monotonic()
            final_status = await timed_command(
                client, actor_name, "status", limit=STATUS_LIMIT
            )
            ecp_status = await timed_command(
                client, ecp_name, "status", limit=STATUS_LIMIT
            )
            alive = actor.process.poll() is None
        finally:
            await sets.stop()
            await polls.stop()
            await client.stop()
            actor.stop()
            for ecp in (first, second):
                if ecp is not None:
                    ecp.stop()
            await listener.close()

    verdict = Verdict()
    outage_sets = [s for s in sets.samples if killed <= s.sent < resumed]
    outage_polls = [s for s in polls.samples if killed <= s.sent < resumed]
    answered = [s.seconds for s in outage_sets if s.seconds is not None]
    p99 = quantile(answered, 0.99) if answered else float("inf")
    failure_shown = [
        s
        for s in outage_polls
        if s.ok and s.reply.get("ecp", {}).get("state") in FAILED_STATES
    ]
    first_shown = (
        min(s.sent for s in failure_shown) - killed if failure_shown else float("nan")
    )
    errors = {str(s.reply["ecp"]["last_error"]) for s in failure_shown}
    after_sets = [s for s in sets.samples if s.sent >= answering]
    final_ecp = final_status.reply.get("ecp", {})

    verdict.check(
        f"`set` during the outage: all answered, p99 < {PROMPT_P99 * 1000:.0f} ms",
        bool(outage_sets) and all(s.ok for s in outage_sets) and p99 < PROMPT_P99,
        latency_summary(outage_sets),
    )
    verdict.check(
        f"`status` within {STATUS_LIMIT:.0f} s throughout",
        bool(polls.samples) and all(s.ok for s in polls.samples),
        latency_summary(polls.samples),
    )
    verdict.check(
        "`status` shows the failure during the outage",
        bool(failure_shown),
        f"{len(failure_shown)}/{len(outage_polls)} polls with ecp.state "
        f"timeout/failed, the first {first_shown:.1f} s after the kill; "
        f"last_error: {'; '.join(sorted(errors)) or 'none'}",
    )
    verdict.check(
        "heartbeats resume after the restart",
        resumed > restarted,
        f"first heartbeat {resumed - answering:.1f} s after the new lvmecp answered "
        f"(started {answering - restarted:.1f} s after launch); "
        f"{len(second.arrivals())} heartbeats to it in {ended - answering:.0f} s",
    )
    verdict.check(
        f"modelled PLC: gap below the {DOME_TIMEOUT:.0f} s dome timeout",
        gap < DOME_TIMEOUT,
        f"gap {gap:.1f} s (lvmecp down {restarted - killed:.1f} s): the dome "
        f"{'would have stayed open' if gap < DOME_TIMEOUT else 'WOULD HAVE CLOSED'}; "
        f"margin {DOME_TIMEOUT - gap:.1f} s",
    )
    verdict.check(
        "`set` answered after the restart, emissions ok again",
        bool(after_sets)
        and all(s.ok for s in after_sets)
        and final_ecp.get("state") == "ok",
        f"{sum(s.ok for s in after_sets)}/{len(after_sets)} answered; final "
        f"ecp.state {final_ecp.get('state')!r}; restarted lvmecp's own dome "
        f"{ecp_status.reply.get('dome')!r}",
    )
    verdict.check("the actor process kept running", alive, "alive" if alive else "died")

    lost = (
        f"`set` {sum(not s.ok for s in sets.samples)}/{len(sets.samples)}, `status` "
        f"{sum(not s.ok for s in polls.samples)}/{len(polls.samples)} unanswered; "
        "the heartbeats due while lvmecp was dead could not be written (by design "
        "the actor retries at the next `set`, it does not queue them)"
    )
    body = f"""## Actor: lvmecp killed and restarted

What: the actor (`lvmbeat actor start --debug`, its own process; cutoff {CUTOFF:.0f} s,
command timeout {COMMAND_TIMEOUT:.0f} s, as in production) and a simulated lvmecp
(`lvmbeat simulate ecp`, its own process) on the local RabbitMQ. A stand-in Overwatcher
sends `set overwatcher` every {SET_PERIOD:.0f} s and a poller sends `status` every
{STATUS_PERIOD:.0f} s with lvmecp's {STATUS_LIMIT:.0f} s limit. After {WARMUP:.0f} s
lvmecp gets SIGKILL; {downtime:g} s later a new lvmecp process starts under the same
name. The real PLC keeps counting while lvmecp is down, so the dome timer
({DOME_TIMEOUT:.0f} s) is modelled across both processes from the heartbeat arrivals.

Command: `.venv/bin/python bench/drills/actor_ecp_restart.py --downtime {downtime:g}`

Machine: {machine()}. Date: {now_utc()}.

{verdict.markdown()}

Lost: {lost}. Expected bound for the gap: time since the last heartbeat (< cutoff) +
downtime + lvmecp's start + the emission in flight at the restart (< command timeout)
+ one `set` period.

Outcome: **{"passed" if verdict.passed else "FAILED"}**.
"""
    return verdict, body


def main() -> int:
    return drill_main(
        __doc__.splitlines()[0],
        SECTION,
        run,
        knob="downtime",
        default=15.0,
        knob_help="seconds lvmecp stays dead",
    )


if __name__ == "__main__":
    sys.exit(main())
