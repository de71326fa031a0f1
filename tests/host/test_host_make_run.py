"""`make run`'s driver brings the chain up around the local host and stops it all."""

from __future__ import annotations

import email
import email.policy
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

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
        # Slack and the webhook have local stand-ins that print what they get.
        for route in ("slack-test", "webhook-test"):
            answer = httpx.post(
                f"{monitor}/{route}", headers={"x-functions-key": key}, timeout=30
            )
            assert answer.status_code == 200, answer.text
        shown = output.read_text()
        assert "[slack] Slack message" in shown
        assert "*TEST: LCO internet monitor Slack*" in shown
        assert "[webhook] Webhook POST (signature ok" in shown
    finally:
        driver.send_signal(signal.SIGINT)
        code = driver.wait(timeout=90)
    said = output.read_text()
    assert code == 0, said
    assert "Everything started by `make run` has stopped." in said
    assert "[monitor] stopped (status 0)." in said
    assert not (run_dir / "function-key").exists()
    assert not list(run_dir.glob("*.pid"))


class Lines:
    """The driver's output, line by line, awaited by content (no sleeps)."""

    def __init__(self, stream) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream) -> None:
        for raw in stream:
            self._queue.put(raw.decode(errors="replace"))
        self._queue.put(None)

    def wait_for(self, *texts: str, since: int = 0, timeout: float = 90) -> str:
        """The first line from line `since` on holding every text (parts print in
        no fixed order between them)."""
        for line in self.seen[since:]:
            if all(text in line for text in texts):
                return line
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            self.seen.append(line)
            if all(text in line for text in texts):
                return line
        raise AssertionError(f"no line with {texts} in:\n{''.join(self.seen)}")


def test_make_run_plays_lcos_internet_loss_with_the_actor_running(tmp_path, rabbitmq):
    """offline cuts the actor's link while it runs: its outside check goes down, it
    stops writing the PLC heartbeat, the alert lands quoting LCO's last word; online
    brings the all-clear. A fresh start logs no ERROR."""
    port = free_port()
    run_dir = tmp_path / "run"
    env = {
        **os.environ,
        "LVMBEAT_RUN_MONITOR_PORT": str(port),
        "LVMBEAT_RUN_DIR": str(run_dir),
        "LVMBEAT_RUN_OVERWATCHER": "1",
        "LVMBEAT_SEND_EMAIL_AFTER": "8",  # above the actor's 5 s interval
        "LVMBEAT_CHECK_SCHEDULE": "* * * * * *",
    }
    driver = subprocess.Popen(
        [sys.executable, "-m", "lvmbeat_local.dev.run_local"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.PIPE,
    )
    lines = Lines(driver.stdout)
    try:
        lines.wait_for("[lvmecp-sim]", "PLC heartbeat written; the dome stays open.")
        started = "".join(lines.seen)
        assert "ERROR" not in started, started
        # Dependency order: lvmecp ready, then the actor (the Overwatcher: below).
        assert started.index("Dome open;") < started.index("[actor]")
        # The second PLC heartbeat comes 10 s (ecp.cutoff) after the first: the actor
        # has called the monitor (every 5 s) since, reporting the PLC heartbeat.
        lines.wait_for(
            "[lvmecp-sim]",
            "PLC heartbeat written; the dome stays open.",
            since=len(lines.seen),
        )

        offline = len(lines.seen)
        driver.stdin.write(b"offline\n")
        driver.stdin.flush()
        alert = lines.wait_for(
            "landed in the outbox", "LCO internet is down", since=offline
        )
        lines.wait_for(
            "[actor]",
            "network check 'outside' is down: not writing the PLC",
            since=offline,
        )
        eml = Path(alert.rsplit(": ", 1)[1].strip())
        message = email.message_from_bytes(
            eml.read_bytes(), policy=email.policy.default
        )
        body = " ".join(message.get_content().split())
        assert "At its last contact," in body, body
        assert "LCO reported: PLC heartbeat written" in body, body
        assert driver.poll() is None  # the actor, and everything, kept running

        online = len(lines.seen)
        driver.stdin.write(b"online\n")
        driver.stdin.flush()
        lines.wait_for("[actor]", "writing the PLC heartbeat again", since=online)
        lines.wait_for(
            "landed in the outbox", "RESOLVED: LCO internet is up", since=online
        )
    finally:
        driver.send_signal(signal.SIGINT)
        code = driver.wait(timeout=90)
    assert code == 0
    said = "".join(lines.seen)
    assert said.index("connected to") < said.index("[overwatcher]")
