"""Run every benchmark, one after another, each in its own process; stop at the first
that fails and name it. `make bench` calls this (after making sure RabbitMQ is up).

Each script rewrites its own section of docs/benchmarks.md (the cost model rewrites
docs/cost.md), so a partial run leaves the other sections as they were.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path


BENCH = Path(__file__).resolve().parent
REPO_ROOT = BENCH.parent

# Order: the latency-sensitive actor bench first, on a machine not yet warmed by the
# others; the cost model last (no measurement, only arithmetic).
SCRIPTS: list[list[str]] = [
    ["actor_latency.py"],
    ["monitor_http.py"],
    ["monitor_storage_ops.py"],
    ["detection.py"],
    ["cost_model.py", "--markdown", "docs/cost.md"],
]


def main() -> int:
    for script, *args in SCRIPTS:
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
    print("All benchmarks done; see docs/benchmarks.md and docs/cost.md.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
