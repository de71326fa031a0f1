"""Shared by every bench script and drill: machine facts, percentiles, and a writer
that rewrites one marked section of a docs page, so each script owns its section."""

from __future__ import annotations

import json
import os
import platform
import re
from datetime import UTC, datetime
from pathlib import Path


REPO_ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS_MD = REPO_ROOT / "docs" / "benchmarks.md"
RELIABILITY_MD = REPO_ROOT / "docs" / "reliability.md"


def machine() -> str:
    """The facts a reader needs to compare numbers: cores, memory, Python, kernel."""
    memory_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            memory_kb = int(line.split()[1])
    return (
        f"{os.cpu_count()} CPUs (nproc), {memory_kb / 1024 / 1024:.1f} GiB memory, "
        f"Python {platform.python_version()}, {platform.system()} "
        f"{platform.release()}"
    )


def load() -> str:
    """The load average (1/5/15 min), so a reader can tell a busy machine's numbers.
    It counts every runnable process on the host, other users' included."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} (1/5/15 min)"


def now_utc() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def quantile(values: list[float], q: float) -> float:
    """Nearest-rank quantile; q in [0, 1]. Raises on an empty list."""
    if not values:
        raise ValueError("no samples to take a quantile of")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def write_section(page: Path, name: str, body: str, *, title: str) -> None:
    """Replace the section between `name`'s markers in `page` (appending it if absent).

    `body` is Markdown without the markers; `title` heads a page created from nothing.
    """
    start, end = markers(name)
    text = f"{start}\n{body.strip()}\n{end}\n"
    page.parent.mkdir(parents=True, exist_ok=True)
    current = page.read_text() if page.exists() else f"# {title}\n"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end) + "\n?", re.S)
    if pattern.search(current):
        updated = pattern.sub(lambda _: text, current)
    else:
        updated = current.rstrip("\n") + "\n\n" + text
    page.write_text(updated)


# bench/run_all.py sets this to a folder; each script then leaves its targets there
# for the summary table at the top of docs/benchmarks.md.
RESULTS_ENV = "LVMBEAT_BENCH_RESULTS"


def record_targets(script: str, targets: list[tuple[str, str, str]]) -> None:
    """Leave (target, measured, verdict) rows for run_all's summary, when it asked."""
    folder = os.environ.get(RESULTS_ENV)
    if folder:
        path = Path(folder) / f"{script}.json"
        path.write_text(json.dumps([list(row) for row in targets]))


def read_targets(folder: Path, scripts: list[str]) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    for script in scripts:
        path = folder / f"{script}.json"
        if path.exists():
            rows.extend(tuple(row) for row in json.loads(path.read_text()))
    return rows
