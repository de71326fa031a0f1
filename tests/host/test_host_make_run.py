"""`make run`'s driver brings the chain up around the local host and stops it all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx

from lvmbeat_local.dev.ports import free_port, wait_for_port


def test_make_run_serves_the_monitor_with_a_key_and_stops_everything_on_ctrl_c(
    tmp_path, rabbitmq
):
    port = free_port()
    run_dir = tmp_path / "run"
    env = {
        **os.environ,
        "LVMBEAT_RUN_MONITOR_PORT": str(port),
        "LVMBEAT_RUN_DIR": str(run_dir),
    }
    env.pop("LVMBEAT_FUNCTION_KEY", None)
    output = tmp_path / "make-run.log"
    with open(output, "wb") as log:
        driver = subprocess.Popen(
            [sys.executable, "-m", "lvmbeat_local.dev.run_local"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        running = lambda: driver.poll() is None  # noqa: E731
        wait_for_port("127.0.0.1", port, what="make run's monitor", alive=running)
        monitor = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{monitor}/version", timeout=10).status_code == 200
        key = (run_dir / "function-key").read_text().strip()
        assert (run_dir / "monitor.pid").exists()
        # The run's key guards function-level routes (the real app's, once merged).
        assert "LVMBEAT_FUNCTION_KEY is not set" not in output.read_text()
        assert key not in output.read_text()
    finally:
        driver.send_signal(signal.SIGINT)
        code = driver.wait(timeout=90)
    said = output.read_text()
    assert code == 0, said
    assert "Everything started by `make run` has stopped." in said
    assert "[monitor] stopped (status 0)." in said
    assert not (run_dir / "function-key").exists()
    assert not list(run_dir.glob("*.pid"))
