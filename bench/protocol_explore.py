"""The protocol explorer with larger budgets than `make test` runs: three checkers
with faults and operator requests, more faults, crashes and LCO toggles.

    .venv/bin/python bench/protocol_explore.py [--family NAME ...] [--max-states N]

Prints, per budget, the worlds explored (states), the tick runs and steps
(transitions) and the time, and the first counterexample if any; with --write, puts
the table into docs/reliability.md (its "Protocol exploration" section).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from report import RELIABILITY_MD, load, machine, now_utc, write_section


sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "protocol"))

from explorer import FAMILIES, READ_FAULTS, SEND_FAULTS, Family, explore  # noqa: E402


# Every second of a period may carry an environment event here (event_phases None).
LARGE = {
    family.name: replace(family, event_phases=None)
    for family in (
        Family(
            "racing3_faults_operator", skews=(0, 1, -1), faults=1, operator=1, toggles=2
        ),
        Family("faults2", faults=2, toggles=2),
        Family("crash2", crashes=2, toggles=2),
        Family(
            "downtime_faults", downtimes=1, spurious_past_due=1, faults=1, toggles=2
        ),
        Family("operator3", operator=3, toggles=2),
        Family(
            "faults_operator2",
            faults=2,
            fault_kinds=READ_FAULTS + SEND_FAULTS,
            operator=2,
            toggles=2,
        ),
    )
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--family", action="append", help="a name (default: all large)")
    parser.add_argument("--max-states", type=int, default=None)
    parser.add_argument(
        "--write", action="store_true", help="update docs/reliability.md"
    )
    args = parser.parse_args()
    everything = {**FAMILIES, **LARGE}
    names = args.family or list(LARGE)
    rows = []
    failed = False
    for name in names:
        family = replace(everything[name], stop_at_first=True)
        result = explore(family, max_states=args.max_states)
        print(result.summary(), flush=True)
        for violation in result.violations:
            print(violation)
            failed = True
        rows.append(
            f"| {name} | {_budget(family)} | {result.states} | {result.runs} | "
            f"{result.transitions} | {result.seconds:.0f} s | "
            f"{'fixpoint' if result.fixpoint else 'cut'} | "
            f"{len(result.violations)} |"
        )
    if args.write:
        body = (
            "## Protocol exploration (larger budgets)\n\n"
            "`.venv/bin/python bench/protocol_explore.py --write` "
            f"({now_utc()}; {machine()}; {load()} at the end). The default families "
            "run in `make test` (tests/protocol); these budgets are larger. States: "
            "distinct worlds at tick boundaries; tick runs: executions of one tick "
            "(one interleaving each); steps: store operations and sends resolved.\n\n"
            "| family | budget | states | tick runs | steps | time | end "
            "| violations |\n"
            "|---|---|---|---|---|---|---|---|\n" + "\n".join(rows)
        )
        write_section(RELIABILITY_MD, "protocol_explore", body, title="Reliability")
    return 1 if failed else 0


def _budget(family: Family) -> str:
    parts = [f"{len(family.skews)} checkers (skews {family.skews})"]
    for field in (
        "toggles",
        "faults",
        "crashes",
        "downtimes",
        "spurious_past_due",
        "operator",
    ):
        value = getattr(family, field)
        if value:
            parts.append(f"{field} {value}")
    return ", ".join(parts)


if __name__ == "__main__":
    sys.exit(main())
