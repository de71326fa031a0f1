"""Drill: the outside monitor answers 500s, then hangs, then is healthy again.

The actor runs in its own process, calling a local aiohttp stand-in for the external
monitor's `/heartbeat` every INTERVAL s with a TIMEOUT s limit. The stand-in answers
200, then 500 for a while, then holds every request open past the limit, then 200
again. Meanwhile an Overwatcher stand-in sends `set` every second and a poller sends
`status` every half second; a simulated lvmecp takes the emissions.

Passes when the loop keeps its pace (calls start between INTERVAL and INTERVAL +
TIMEOUT apart: no catch-up burst, no stall), never has two calls in flight, logs the
monitor going down once and coming back once, `last_emitted_outside` stands still
through the faults and moves again after the recovery, and `set`/`status` stay prompt
(p99 below 1 s, none unanswered). Writes the "drill-actor-outside-faults" section of
docs/reliability.md.

    .venv/bin/python bench/drills/actor_outside_faults.py [--phase 6] [--no-write]
"""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from _actor_common import (
    BROKER_PORT,
    STATUS_LIMIT,
    ActorProcess,
    LoopbackListener,
    Pacer,
    Sample,
    Verdict,
    actor_config,
    drill_main,
    latency_summary,
    machine,
    now_utc,
    quantile,
    unique,
    wait_answering,
    workdir,
)
from aiohttp import web

from clu import AMQPClient

from lvmbeat.simulator import SimulatedEcp


SECTION = "drill-actor-outside-faults"
INTERVAL = 1.0
TIMEOUT = 0.5
HANG = 30.0  # far beyond the actor's limit: only its own timeout ends the call
SET_PERIOD = 1.0
STATUS_PERIOD = 0.5
PROMPT_P99 = 1.0
PACE_SLACK = 0.3  # seconds of scheduling slack allowed around the expected spacing
DOWN_LINE = "unreachable:"
BACK_LINE = "answers again"


class Mode(StrEnum):
    HEALTHY = "healthy"
    ERROR = "500"
    HANG = "hang"


@dataclass
class Call:
    mode: Mode
    arrived: float
    ended: float | None = None
    status: int | None = None  # None: the actor gave up and the handler was cancelled


@dataclass
class FakeMonitor:
    """The external monitor's `/heartbeat`, whose behaviour the drill switches."""

    mode: Mode = Mode.HEALTHY
    calls: list[Call] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    runner: web.AppRunner | None = None
    port: int = 0

    async def handle(self, _request: web.Request) -> web.Response:
        call = Call(self.mode, time.monotonic())
        self.calls.append(call)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if call.mode is Mode.HANG:
                await asyncio.sleep(HANG)  # cancelled when the actor hangs up
            call.status = 500 if call.mode is Mode.ERROR else 200
            return web.json_response({"status": "ok"}, status=call.status)
        finally:
            call.ended = time.monotonic()
            self.in_flight -= 1

    async def start(self) -> None:
        app = web.Application()
        # GET and POST, as the monitor's route: the actor POSTs its report.
        app.router.add_get("/heartbeat", self.handle)
        app.router.add_post("/heartbeat", self.handle)
        # Cancel a handler when its client disconnects, so in_flight counts what the
        # actor still waits for, not what the server would finish on its own.
        self.runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = self.runner.addresses[0][1]

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


def spacing(calls: list[Call]) -> list[float]:
    starts = [call.arrived for call in calls]
    return [b - a for a, b in zip(starts, starts[1:], strict=False)]


async def run(phase: float, echo: bool) -> tuple[Verdict, str]:
    actor_name, ecp_name = unique("lvmbeat"), unique("lvmecp")
    listener = LoopbackListener()
    monitor = FakeMonitor()
    await listener.open()
    await monitor.start()
    ecp = SimulatedEcp(ecp_name, host="127.0.0.1")
    client = AMQPClient(host="127.0.0.1")
    switches: dict[Mode, float] = {}
    with workdir() as tmp:
        config = actor_config(
            Path(tmp),
            actor_name,
            port=BROKER_PORT,
            checks_port=listener.port,
            overrides={
                "ecp": {"actor": ecp_name},
                "outside_monitor": {
                    "url": f"http://127.0.0.1:{monitor.port}",
                    "interval": INTERVAL,
                    "timeout": TIMEOUT,
                },
            },
        )
        actor = ActorProcess(config, actor_name, echo=echo)
        await ecp.start()
        await client.start()
        sets = Pacer(client, actor_name, "set overwatcher", SET_PERIOD, STATUS_LIMIT)
        polls = Pacer(client, actor_name, "status", STATUS_PERIOD, STATUS_LIMIT)
        try:
            await actor.connected()
            await wait_answering(client, actor_name)
            sets.start()
            polls.start()
            started = time.monotonic()
            await asyncio.sleep(phase)
            for mode in (Mode.ERROR, Mode.HANG, Mode.HEALTHY):
                print(f"-- the monitor now: {mode.value}", flush=True)
                monitor.mode = mode
                switches[mode] = time.monotonic()
                await asyncio.sleep(phase)
            await sets.stop()
            await polls.stop()
            ended = time.monotonic()
            alive = actor.process.poll() is None
        finally:
            await sets.stop()
            await polls.stop()
            await client.stop()
            actor.stop()
            await ecp.stop()
            await monitor.stop()
            await listener.close()

    calls = [c for c in monitor.calls if started <= c.arrived <= ended]
    return judge(
        calls=calls,
        monitor=monitor,
        sets=sets.samples,
        polls=polls.samples,
        switches=switches,
        down_lines=len(actor.output.matching(DOWN_LINE)),
        back_lines=len(actor.output.matching(BACK_LINE)),
        alive=alive,
        phase=phase,
    )


def judge(
    *,
    calls: list[Call],
    monitor: FakeMonitor,
    sets: list[Sample],
    polls: list[Sample],
    switches: dict[Mode, float],
    down_lines: int,
    back_lines: int,
    alive: bool,
    phase: float,
) -> tuple[Verdict, str]:
    verdict = Verdict()
    gaps = spacing(calls)
    by_mode = {mode: [c for c in calls if c.mode is mode] for mode in Mode}
    hung = by_mode[Mode.HANG]
    first_fault = min(
        (c.arrived for c in calls if c.mode is not Mode.HEALTHY), default=0
    )
    recovered = min(
        (c.ended for c in calls if c.mode is Mode.HEALTHY and c.arrived > first_fault),
        default=float("inf"),
    )
    # Status replies sent once the first failing call had ended and before the first
    # success after the faults: last_emitted_outside must not move between them.
    during = [
        s.reply.get("last_emitted_outside")
        for s in polls
        if s.ok and first_fault + TIMEOUT + 0.2 <= s.sent < recovered
    ]
    after = [
        s.reply.get("last_emitted_outside")
        for s in polls
        if s.ok and s.sent >= recovered + 1.2
    ]
    reachable_during = {
        s.reply.get("outside_monitor", {}).get("reachable")
        for s in polls
        if s.ok and first_fault + TIMEOUT + 0.2 <= s.sent < recovered
    }
    errors_seen = sorted(
        {
            str(s.reply.get("outside_monitor", {}).get("last_error"))
            for s in polls
            if s.ok and first_fault <= s.sent < recovered
        }
        - {"None"}
    )
    everything = sets + polls
    answered = [s.seconds for s in everything if s.seconds is not None]
    p99 = quantile(answered, 0.99) if answered else float("inf")

    mix = ", ".join(f"{len(v)} {m.value}" for m, v in by_mode.items())
    verdict.check(
        "calls keep their pace (no burst, no stall)",
        bool(gaps)
        and min(gaps) >= INTERVAL - PACE_SLACK
        and max(gaps) <= INTERVAL + TIMEOUT + PACE_SLACK,
        f"{len(calls)} calls ({mix}); start-to-start "
        f"{min(gaps):.2f}-{max(gaps):.2f} s, expected "
        f"{INTERVAL:g}-{INTERVAL + TIMEOUT:g} s (interval, plus the limit when hung)",
    )
    verdict.check(
        "never more than one call in flight",
        monitor.max_in_flight == 1,
        f"max {monitor.max_in_flight}",
    )
    hang_ends = [c.ended - c.arrived for c in hung if c.ended is not None]
    verdict.check(
        f"hung calls given up at the {TIMEOUT:g} s limit",
        bool(hung)
        and all(c.status is None for c in hung)
        and len(hang_ends) == len(hung)
        and max(hang_ends) < TIMEOUT + PACE_SLACK,
        f"{len(hung)} hung calls, ended after "
        f"{min(hang_ends, default=0):.2f}-{max(hang_ends, default=0):.2f} s",
    )
    verdict.check(
        "down logged once, recovery logged once",
        down_lines == 1 and back_lines == 1,
        f"{down_lines} 'unreachable' line(s), {back_lines} 'answers again' line(s)",
    )
    verdict.check(
        "`last_emitted_outside` stands still through the faults",
        len(during) >= 2 and len(set(during)) == 1,
        f"{len(during)} status replies, values {sorted(set(map(str, during)))}; "
        f"reachable {sorted(map(str, reachable_during))}; errors shown: "
        f"{'; '.join(errors_seen) or 'none'}",
    )
    verdict.check(
        "`last_emitted_outside` moves again after the recovery",
        bool(after) and bool(during) and all(str(v) > str(during[0]) for v in after),
        f"{len(after)} status replies after it, latest {after[-1] if after else None}",
    )
    verdict.check(
        f"`set`/`status` prompt throughout (p99 < {PROMPT_P99 * 1000:.0f} ms)",
        bool(everything) and all(s.ok for s in everything) and p99 < PROMPT_P99,
        f"set {latency_summary(sets)}; status {latency_summary(polls)}",
    )
    verdict.check("the actor process kept running", alive, "alive" if alive else "died")

    lost = (
        f"`set` {sum(not s.ok for s in sets)}/{len(sets)}, `status` "
        f"{sum(not s.ok for s in polls)}/{len(polls)} unanswered; "
        f"{len(calls) - sum(c.status == 200 for c in calls)} of {len(calls)} monitor "
        "calls failed, as the stand-in was told to make them"
    )
    body = f"""## Actor: outside monitor failing, hanging, recovering

What: the actor (`lvmbeat actor start --debug`, its own process) calls a local aiohttp
stand-in for the monitor's `/heartbeat` every {INTERVAL:g} s with a {TIMEOUT:g} s limit
(`outside_monitor.interval` / `.timeout`; production: 15 s, 5 s). The stand-in answers
200 for {phase:g} s, then HTTP 500 for {phase:g} s, then holds every request open
({HANG:g} s, far past the limit) for {phase:g} s, then 200 again for {phase:g} s.
Meanwhile a stand-in Overwatcher sends `set overwatcher` every {SET_PERIOD:g} s, a
poller sends `status` every {STATUS_PERIOD:g} s ({STATUS_LIMIT:g} s limit), and a
simulated lvmecp takes the emissions. The stand-in cancels a handler when the actor
hangs up, so its in-flight count is what the actor still waits for.

Command: `.venv/bin/python bench/drills/actor_outside_faults.py --phase {phase:g}`

Machine: {machine()}. Date: {now_utc()}.

{verdict.markdown()}

Lost: {lost}. The loop sleeps one interval after each call ends, so while the monitor
hangs the calls are interval + timeout apart (20 s in production), never closer than
the interval.

Outcome: **{"passed" if verdict.passed else "FAILED"}**.
"""
    return verdict, body


def main() -> int:
    return drill_main(
        __doc__.splitlines()[0],
        SECTION,
        run,
        knob="phase",
        default=6.0,
        knob_help="seconds of each monitor behaviour",
    )


if __name__ == "__main__":
    sys.exit(main())
