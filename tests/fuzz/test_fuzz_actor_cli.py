"""An operator starts the actor on a broken config file: `lvmbeat -c FILE actor start
--debug` stops at once with one line naming the key, not a Python traceback.

Each example is a real subprocess (about a second), so only a few are drawn.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys

from typing import Any

import pytest
import yaml
from fuzz_support import examples
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st


SECRET = "fuzz-cli-monitor-key-77a0"

# Keys an operator edits, each with values that can never be valid there.
BREAKAGES: dict[tuple[str, ...], list[Any]] = {
    ("network", "failures_to_down"): ["three", -1, 0, 2.5, [3]],
    ("actor", "port"): [0, 70000, "amqp", -5],
    ("timeout",): [-1, 0, math.inf, "soon", {"seconds": 30}],
    ("ecp", "cutoff"): [-1, "ten", math.nan],
    ("network", "checks", "lco", "method"): ["udp", 5, None],
    ("outside_monitor", "interval"): [0, -15, "fast"],
    ("network", "intervall"): [15],  # a typo: unknown keys are errors
    ("heartbeats",): [[], "overwatcher", [{"name": "over watcher"}]],
}

breakages = st.sampled_from(sorted(BREAKAGES)).flatmap(
    lambda path: st.tuples(st.just(path), st.sampled_from(BREAKAGES[path]))
)


def _nested(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    document: Any = value
    for part in reversed(path):
        document = {part: document}
    return document


@pytest.fixture(scope="module")
def cli_env() -> dict[str, str]:
    """This environment without settings that would change which config is read."""
    ignored = {
        "LVMBEAT_CONFIG_PATH",
        "LVMBEAT_OUTSIDE_MONITOR_URL",
        "LVMBEAT_OUTSIDE_MONITOR_KEY",
    }
    return {k: v for k, v in os.environ.items() if k not in ignored}


@settings(
    max_examples=examples(3),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(breakage=breakages)
@example(breakage=(("network", "failures_to_down"), "three"))
def test_the_actor_refuses_a_broken_config_in_one_line_naming_the_key(
    tmp_path_factory, cli_env, breakage
):
    path, value = breakage
    document = _nested(path, value)
    document.setdefault("outside_monitor", {})["key"] = SECRET
    config = tmp_path_factory.mktemp("cli") / "lvmbeat.yaml"
    config.write_text(yaml.safe_dump(document))

    done = subprocess.run(
        [sys.executable, "-m", "lvmbeat", "-c", str(config), "actor", "start"]
        + ["--debug"],
        capture_output=True,
        text=True,
        timeout=60,
        env=cli_env,
        stdin=subprocess.DEVNULL,
        cwd=config.parent,
    )

    output = done.stdout + done.stderr
    lines = [line for line in output.splitlines() if line.strip()]
    key = ".".join(path)
    assert done.returncode != 0, f"the actor accepted {document}:\n{output}"
    assert "Traceback" not in output and 'File "' not in output, output
    assert len(lines) == 1, f"expected one line, got:\n{output}"
    assert lines[0].startswith("Error: Invalid lvmbeat config: "), output
    assert key in lines[0], f"{key} is not named in: {lines[0]}"
    assert SECRET not in output
