"""Run every benchmark, one after another, each in its own process; stop at the first
that fails and name it. `make bench` calls this (after making sure RabbitMQ is up).

Each script rewrites its own section of docs/benchmarks.md, so a partial run leaves
the other sections as they were. (The monthly bill, docs/cost.md, is a computation
written out in that page, not a measurement.)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from report import (
    BENCHMARKS_MD,
    RESULTS_ENV,
    load,
    machine,
    markers,
    now_utc,
    read_targets,
)


BENCH = Path(__file__).resolve().parent
REPO_ROOT = BENCH.parent

# (name of its results, command). Order: the latency-sensitive actor bench first, on
# a machine not yet warmed by the others. Storage operations per use case are not
# here: tests/monitor/test_monitor_storage.py asserts them on every `make test`.
SCRIPTS: list[tuple[str, list[str]]] = [
    ("actor_latency", ["actor_latency.py"]),
    ("monitor_vs_first_quiet", ["monitor_vs_first.py"]),
    ("monitor_vs_first_loaded", ["monitor_vs_first.py", "--load"]),
    ("detection", ["detection.py"]),
]


SUMMARY = "summary"


def write_summary(results: Path) -> None:
    """The targets table, right under the page title (the sections follow)."""
    names = [name for name, _ in SCRIPTS]
    rows = "\n".join(
        f"| {target} | {measured} | **{verdict}** |"
        for target, measured, verdict in read_targets(results, names)
    )
    body = f"""## Summary

Every target of issues 5 and 12, measured by `make bench` (`.venv/bin/python
bench/run_all.py`, which runs each script below in turn; each section names its own
command to rerun it alone). Machine: {machine()}. Date: {now_utc()}; {load()} at
the end. Details, and for each missed target by how much, why and what would close it,
are in the sections below.

| target | measured | verdict |
|---|---|---|
{rows}"""
    start, end = markers(SUMMARY)
    text = f"{start}\n{body}\n{end}\n"
    page = BENCHMARKS_MD.read_text() if BENCHMARKS_MD.exists() else "# Benchmarks\n"
    if start in page:
        before, rest = page.split(start, 1)
        page = before + text + "\n" + rest.split(end, 1)[1].lstrip("\n")
    else:
        title, _, rest = page.partition("\n")
        page = f"{title}\n\n{text}\n{rest.lstrip()}"
    BENCHMARKS_MD.write_text(page)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="lvmbeat-bench-") as results:
        os.environ[RESULTS_ENV] = results
        status = run_each()
        if status == 0:
            write_summary(Path(results))
            print("All benchmarks done; see docs/benchmarks.md.")
        return status


def run_each() -> int:
    for _, (script, *args) in SCRIPTS:
        command = [sys.executable, str(BENCH / script), *args]
        shown = " ".join(["bench/" + script, *args])
        print(f"==> {shown}", flush=True)
        started = time.monotonic()
        status = subprocess.run(command, cwd=REPO_ROOT).returncode
        took = time.monotonic() - started
        if status != 0:
            print(
                f"bench/run_all.py: {shown} failed (exit status {status}) after "
                f"{took:.0f} s; the later benchmarks were not run. Run it alone to "
                "see why: .venv/bin/python " + shown,
                file=sys.stderr,
            )
            return status
        print(f"==> {shown}: done in {took:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
