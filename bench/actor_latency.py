"""How fast `lvmbeat set` answers, and how long until lvmecp gets its heartbeat.

Runs the real actor (`lvmbeat -c CONFIG actor start --debug`, its own process) on the
local RabbitMQ, a simulated lvmecp and a CLU client in this process, and measures:

- a bare CLU round trip (`ping` to the same actor), the floor for any command;
- `set` reply time with the simulated lvmecp up, absent, and slow (2 s per heartbeat,
  the case that made the first actor's `set` take 2,016 ms);
- set -> lvmecp arrival (client send to the simulator receiving `heartbeat`), lvmecp up.

Writes the "Actor" section of docs/benchmarks.md. Standalone:
    .venv/bin/python bench/actor_latency.py [--count 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from actor_stack import BROKER_PORT, ActorProcess, actor_config
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

from clu import AMQPClient

from lvmbeat.simulator import SimulatedEcp


SECTION = "actor_latency"
SLOW_DELAY = 2.0
DEFAULT_CUTOFF = 10  # ecp.cutoff in the packaged config.yaml
# Targets (issue 5): p99 of the `set` reply within 1.5x the bare round trip's p99,
# p99 of set -> lvmecp arrival within 2x.
SET_FACTOR = 1.5
ARRIVAL_FACTOR = 2.0


@dataclass
class Series:
    name: str
    samples_ms: list[float]
    # The `ping`s alternating with this series, which it is judged against.
    baseline: Series | None = None

    def quantile(self, q: float) -> float:
        return quantile(self.samples_ms, q)

    def row(self) -> str:
        paired = (
            f"{self.baseline.quantile(0.5):.2f} | {self.baseline.quantile(0.99):.2f}"
            if self.baseline
            else "- | -"
        )
        return (
            f"| {self.name} | {len(self.samples_ms)} | {self.quantile(0.5):.2f} | "
            f"{self.quantile(0.99):.2f} | {max(self.samples_ms):.2f} | {paired} |"
        )


def start_actor(name: str, ecp_name: str, workdir: Path, cutoff: float = 0):
    """The actor in its own process, as deployed, its checks on loopback."""
    config = actor_config(
        workdir,
        name,
        port=BROKER_PORT,
        checks_port=BROKER_PORT,
        overrides={"ecp": {"actor": ecp_name, "cutoff": cutoff, "command_timeout": 5}},
    )
    return ActorProcess(config, name)


async def timed(client: AMQPClient, actor: str, text: str) -> float:
    start = time.perf_counter()
    command = await asyncio.wait_for(client.send_command(actor, text), 30)
    elapsed = (time.perf_counter() - start) * 1000
    if not command.status.did_succeed:
        raise RuntimeError(f"{actor} {text} failed: {command.replies[-1].message}")
    return elapsed


async def emission_idle(client: AMQPClient, actor: str) -> None:
    """Wait until the actor has no emission in flight (it must see lvmecp's reply)."""
    while True:
        command = await client.send_command(actor, "status")
        if not command.replies[-1].message["ecp"]["in_flight"]:
            return


async def run(count: int) -> dict[str, object]:
    suffix = uuid.uuid4().hex[:6]
    actor_name, ecp_name = f"lvmbeat_bench_{suffix}", f"lvmecp_bench_{suffix}"
    results: list[Series] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory() as workdir:
        actor = start_actor(actor_name, ecp_name, Path(workdir))
        client = AMQPClient(host="127.0.0.1")
        await client.start()
        try:
            await actor.connected(timeout=60)
            for _ in range(20):  # warm up connections and caches
                await timed(client, actor_name, "ping")

            bare = [await timed(client, actor_name, "ping") for _ in range(count)]
            results.append(Series("bare CLU round trip (`ping`)", bare))

            pings, absent = [], []
            for _ in range(count):
                pings.append(await timed(client, actor_name, "ping"))
                absent.append(await timed(client, actor_name, "set overwatcher"))
            results.append(
                Series("`set` reply, lvmecp absent", absent, Series("ping", pings))
            )

            sim = SimulatedEcp(ecp_name, host="127.0.0.1", dome_timeout=3600)
            arrivals: asyncio.Queue[float] = asyncio.Queue()
            sim.on_heartbeat.append(lambda: arrivals.put_nowait(time.perf_counter()))
            await sim.start()
            try:
                await emission_idle(client, actor_name)
                pings, set_up, to_ecp = [], [], []
                for _ in range(count):
                    pings.append(await timed(client, actor_name, "ping"))
                    start = time.perf_counter()
                    set_up.append(await timed(client, actor_name, "set overwatcher"))
                    arrived = await asyncio.wait_for(arrivals.get(), 10)
                    to_ecp.append((arrived - start) * 1000)
                    await emission_idle(client, actor_name)
                up_pings = Series("ping", pings)
                results.append(Series("`set` reply, lvmecp up", set_up, up_pings))
                results.append(
                    Series("`set` -> lvmecp `heartbeat` arrival", to_ecp, up_pings)
                )

                sim.delay = SLOW_DELAY
                first_request = sim.requests.count
                started = time.perf_counter()
                pings, slow = [], []
                for _ in range(count):
                    pings.append(await timed(client, actor_name, "ping"))
                    slow.append(await timed(client, actor_name, "set overwatcher"))
                elapsed = time.perf_counter() - started
                requests = sim.requests.count - first_request
                results.append(
                    Series(
                        f"`set` reply, lvmecp slow ({SLOW_DELAY:.0f} s)",
                        slow,
                        Series("ping", pings),
                    )
                )
                notes.append(
                    f"With lvmecp slow, {count} sets over {elapsed:.1f} s led to "
                    f"{requests} `heartbeat` commands: one in flight at a time, "
                    f"so at most {int(elapsed // SLOW_DELAY) + 1} in that time."
                )
            finally:
                await sim.stop()
            results.extend(await default_cutoff_series(client, Path(workdir), count))
        finally:
            await client.stop()
            actor.stop()
    return {"series": results, "notes": notes}


async def default_cutoff_series(
    client: AMQPClient, workdir: Path, count: int
) -> list[Series]:
    """`set` replies from an actor with the packaged 10 s cutoff and lvmecp up: the
    production case, where at most one `set` in 10 s also starts an emission."""
    suffix = uuid.uuid4().hex[:6]
    name, ecp_name = f"lvmbeat_bench_{suffix}", f"lvmecp_bench_{suffix}"
    actor = start_actor(name, ecp_name, workdir, cutoff=DEFAULT_CUTOFF)
    sim = SimulatedEcp(ecp_name, host="127.0.0.1", dome_timeout=3600)
    await sim.start()
    try:
        await actor.connected(timeout=60)
        for _ in range(20):
            await timed(client, name, "ping")
        pings, sets = [], []
        for _ in range(count):
            pings.append(await timed(client, name, "ping"))
            sets.append(await timed(client, name, "set overwatcher"))
    finally:
        await sim.stop()
        actor.stop()
    return [
        Series(
            f"`set` reply, lvmecp up, default cutoff ({DEFAULT_CUTOFF} s)",
            sets,
            baseline=Series("ping", pings),
        )
    ]


def verdicts(series: list[Series]) -> list[tuple[str, str, str, str]]:
    """Each target against the bare round trip's p99: (what, p99, limit, verdict)."""
    by_name = {item.name: item for item in series}
    first_bare = by_name["bare CLU round trip (`ping`)"].quantile(0.99)
    rows = []
    for item in series[1:]:
        if "ping" in item.name:
            continue  # a baseline, not a target
        bare = item.baseline.quantile(0.99) if item.baseline else first_bare
        arrival = "arrival" in item.name
        factor = ARRIVAL_FACTOR if arrival else SET_FACTOR
        p99, limit = item.quantile(0.99), bare * factor
        verdict = (
            "met"
            if p99 <= limit
            else f"missed by {p99 - limit:.2f} ms ({p99 / bare:.2f}x)"
        )
        rows.append(
            (item.name, f"{p99:.2f}", f"{factor}x {bare:.2f} = {limit:.2f}", verdict)
        )
    return rows


def section(outcome: dict[str, object], count: int) -> str:
    rows = "\n".join(series.row() for series in outcome["series"])
    targets = "\n".join(
        f"| {what} | {p99} | {limit} | **{verdict}** |"
        for what, p99, limit, verdict in verdicts(outcome["series"])
    )
    notes = "\n".join(f"- {note}" for note in outcome["notes"])
    missed = [
        what for what, _, _, verdict in verdicts(outcome["series"]) if verdict != "met"
    ]
    if missed:
        cutoff_only = all("default cutoff" not in what for what in missed)
        notes += (
            "\n- Missed: "
            + "; ".join(missed)
            + ". "
            + (
                "Only `ecp.cutoff: 0` rows miss: there every `set` also starts an "
                "emission (a publish to lvmecp and handling its reply or failure) on "
                "the actor's event loop and broker connection, right as the `set` "
                "reply goes out. The production row (default cutoff) meets its "
                "target, so nothing is needed for production; for cutoff 0, "
                "finishing the `set` before starting the emission (so its reply is "
                "published first) is the change to try."
                if cutoff_only
                else "The default-cutoff row misses too: the actor itself is slower "
                "than a bare round trip beyond the allowance; profile `set_` in "
                "actor/lvmbeat/actor.py."
            )
        )
    notes += (
        "\n- These p99s of a few ms on a 2-CPU machine move with its load (the "
        "load average above counts other users' work too): compare rows of one "
        "run, as the paired targets do, never across runs. docs/benchmarks.md "
        "keeps the ratios of earlier runs under the summary."
    )
    return f"""## Actor

`set` must answer at once whatever lvmecp does (the first actor's `set` took 2,016 ms
with a 2 s lvmecp). Measured with `.venv/bin/python bench/actor_latency.py --count
{count}`: the actor in its own process (`lvmbeat actor start --debug`), the simulated
lvmecp and the client in the benchmark process, all on the local RabbitMQ.

Machine: {machine()}. Date: {now_utc()}; {load()} at the end of the run.

All rows but the last use `ecp.cutoff: 0`, the adversarial case: with lvmecp up or
absent every `set` also starts an emission whose publish and reply share the actor's
event loop and the broker with the `set` reply. The last row is a second actor with
the packaged `ecp.cutoff: {DEFAULT_CUTOFF}` (production), where at most one `set` in
{DEFAULT_CUTOFF} s pays that.

This machine is shared, and its load moves within a run. So every measured command
alternates with a bare `ping` to the same actor, and each row is judged against the
`ping`s taken between its own commands (the "paired ping" columns): same moments, same
load. The first row is a plain run of `ping`s, for reference.

| measurement | n | p50 ms | p99 ms | max ms | paired ping p50 ms | paired ping p99 ms |
|---|---|---|---|---|---|---|
{rows}

Targets: p99 of a `set` reply within {SET_FACTOR}x the paired `ping`'s p99; p99 of
set -> lvmecp arrival within {ARRIVAL_FACTOR}x.

| measurement | p99 ms | limit ms | target |
|---|---|---|---|
{targets}

{notes}
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="commands per series")
    parser.add_argument(
        "--no-write", action="store_true", help="print only; leave docs/ untouched"
    )
    args = parser.parse_args()
    outcome = asyncio.run(run(args.count))
    text = section(outcome, args.count)
    print(text)
    record_targets(
        SECTION,
        [
            (
                f"p99 {what} within "
                f"{ARRIVAL_FACTOR if 'arrival' in what else SET_FACTOR}x paired "
                "`ping` p99",
                f"{p99} ms (limit {limit.split('= ')[1]} ms)",
                verdict,
            )
            for what, p99, limit, verdict in verdicts(outcome["series"])
        ],
    )
    if not args.no_write:
        write_section(BENCHMARKS_MD, SECTION, text, title="Benchmarks")
        print(f"Updated {BENCHMARKS_MD.relative_to(REPO_ROOT)}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
