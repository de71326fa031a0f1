"""`make run`: the whole lvmbeat chain on this machine, on embedded defaults.

Starts Azurite's table service, the monitor's local Functions host (outbox email
backend), the simulated lvmecp and the lvmbeat actor, prefixes each part's output with
its name, and stops everything it started on Ctrl-C. A part that ends early is reported
with what it said; the rest keep running so the cause can be read.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass

from lvmbeat.dev.azurite import REPO_ROOT, AzuriteMissing, start_azurite_tables
from lvmbeat.dev.ports import ServiceNotReady, free_port, port_is_open


RUN_DIR = REPO_ROOT / ".run"
MONITOR_PORT = int(os.environ.get("LVMBEAT_RUN_MONITOR_PORT", "7071"))


@dataclass
class Part:
    """One process of the local chain."""

    name: str
    args: list[str]
    env: dict[str, str]
    process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.args,
            env={**os.environ, **self.env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            bufsize=1,
            start_new_session=True,  # Ctrl-C reaches us; we stop the parts in order
        )
        threading.Thread(target=self._relay, daemon=True).start()

    def _relay(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            print(f"[{self.name}] {line}", end="", flush=True)
        code = self.process.wait()
        print(f"[{self.name}] exited with status {code}.", flush=True)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def lvmbeat_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "lvmbeat", *args]


def build_parts(table_connection_string: str) -> list[Part]:
    outbox = RUN_DIR / "outbox"
    outbox.mkdir(parents=True, exist_ok=True)
    monitor_url = f"http://127.0.0.1:{MONITOR_PORT}"
    monitor_env = {
        "LVMBEAT_STORAGE_CONNECTION_STRING": table_connection_string,
        "LVMBEAT_EMAIL_BACKEND": "outbox",
        "LVMBEAT_EMAIL_OUTBOX": str(outbox),
        "LVMBEAT_EMAIL_RECIPIENTS": "LVM Critical Alerts <lvm-critical@localhost>",
        "LVMBEAT_EMAIL_FROM_ADDRESS": "lvmbeat monitor <lvmbeat@localhost>",
        "LVMBEAT_SEND_EMAIL_AFTER": os.environ.get("LVMBEAT_SEND_EMAIL_AFTER", "30"),
        "LVMBEAT_CHECK_SCHEDULE": os.environ.get(
            "LVMBEAT_CHECK_SCHEDULE", "*/5 * * * * *"
        ),
    }
    actor_env = {"LVMBEAT_OUTSIDE_MONITOR_URL": monitor_url}
    local_config = REPO_ROOT / "actor" / "config.local.yaml"
    config_args = ["-c", str(local_config)] if local_config.exists() else []
    return [
        Part(
            "monitor",
            lvmbeat_command("monitor", "serve", "--port", str(MONITOR_PORT)),
            monitor_env,
        ),
        Part("lvmecp-sim", lvmbeat_command("simulate", "ecp"), {}),
        Part(
            "actor",
            lvmbeat_command(*config_args, "actor", "start", "--debug"),
            actor_env,
        ),
    ]


def print_guide(azurite_endpoint: str) -> None:
    outbox = RUN_DIR / "outbox"
    print(
        f"""
lvmbeat is running locally. Ctrl-C stops everything.

  Azurite tables   {azurite_endpoint}
  monitor          http://127.0.0.1:{MONITOR_PORT}  (try: curl http://127.0.0.1:{MONITOR_PORT}/status)
  RabbitMQ         127.0.0.1:5672 (actors: lvmbeat, lvmecp)
  emails land in   {outbox}

Send a heartbeat as the Overwatcher would (repeat every few seconds):
  .venv/bin/clu lvmbeat set overwatcher      # or: watch -n 5 .venv/bin/clu lvmbeat set overwatcher
See the state:
  .venv/bin/clu lvmbeat status
""",  # noqa: E501 - a guide reads better unwrapped
        flush=True,
    )


def main() -> int:
    if port_is_open("127.0.0.1", MONITOR_PORT):
        print(
            f"Port {MONITOR_PORT} is already in use; stop what listens there or set "
            "LVMBEAT_RUN_MONITOR_PORT to a free port.",
            file=sys.stderr,
        )
        return 1
    RUN_DIR.mkdir(exist_ok=True)
    try:
        azurite = start_azurite_tables(port=free_port())
    except (AzuriteMissing, ServiceNotReady) as error:
        print(f"Could not start Azurite: {error}", file=sys.stderr)
        return 1
    parts = build_parts(azurite.connection_string)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        for part in parts:
            part.start()
        print_guide(azurite.endpoint)
        stop.wait()
        print("\nStopping the local chain...", flush=True)
    finally:
        for part in reversed(parts):
            part.stop()
        azurite.stop()
    print("Everything started by `make run` has stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
