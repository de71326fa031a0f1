"""`make run`: the whole lvmbeat chain on this machine, on embedded defaults.

Starts Azurite's table service, the monitor's local Functions host (`outbox` email
backend, a short LVMBEAT_SEND_EMAIL_AFTER, a check every 5 s, a function key made for
this run), the simulated lvmecp and the lvmbeat actor pointed at the monitor, prefixes
each part's output with its name, and stops everything it started on Ctrl-C.

Typing `offline` pauses the actor (SIGSTOP), as if LCO lost its internet link: its
heartbeats stop reaching the monitor, which emails the alert to the outbox. `online`
resumes it, and the monitor sends the all-clear. A part that ends early is reported with
what it said; the rest keep running so the cause can be read.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from lvmbeat_local.dev.azurite import AzuriteMissing, start_azurite_tables
from lvmbeat_local.dev.ports import (
    ServiceNotReady,
    free_port,
    port_is_open,
    wait_for_port,
)
from lvmbeat_local.repository import RepositoryNotFound, find_repository


try:  # `make run` runs from a checkout: .run/ and actor/config.local.yaml live there.
    REPO_ROOT = find_repository()
except RepositoryNotFound as error:
    sys.exit(f"make run: {error}")


# LVMBEAT_RUN_DIR moves pid files, the key and the outbox (tests use a temporary one).
RUN_DIR = Path(os.environ.get("LVMBEAT_RUN_DIR") or REPO_ROOT / ".run").resolve()
OUTBOX = RUN_DIR / "outbox"
KEY_FILE = RUN_DIR / "function-key"
LOCAL_CONFIG = REPO_ROOT / "actor" / "config.local.yaml"
MONITOR_HOST = "127.0.0.1"
MONITOR_PORT = int(os.environ.get("LVMBEAT_RUN_MONITOR_PORT", "7071"))
RABBITMQ = ("127.0.0.1", 5672)
SEND_EMAIL_AFTER = os.environ.get("LVMBEAT_SEND_EMAIL_AFTER", "30")
CHECK_SCHEDULE = os.environ.get("LVMBEAT_CHECK_SCHEDULE", "*/5 * * * * *")


def shown(path: Path) -> Path:
    """A path as the guide shows it: relative to the repository when inside it."""
    return path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path


def say(message: str) -> None:
    print(f"[run] {message}", flush=True)


@dataclass
class Part:
    """One process of the local chain."""

    name: str
    args: list[str]
    env: dict[str, str]
    process: subprocess.Popen | None = None
    stopping: threading.Event = field(default_factory=threading.Event)
    paused: bool = False
    relay: threading.Thread | None = None

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
        (RUN_DIR / f"{self.name}.pid").write_text(f"{self.process.pid}\n")
        self.relay = threading.Thread(target=self._relay, daemon=True)
        self.relay.start()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _relay(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            print(f"[{self.name}] {line}", end="", flush=True)
        code = self.process.wait()
        if self.stopping.is_set():
            print(f"[{self.name}] stopped (status {code}).", flush=True)
        else:
            say(
                f"{self.name} ended on its own with status {code}; its last lines are "
                "above. The other parts keep running; Ctrl-C stops them."
            )

    def pause(self) -> None:
        if self.alive() and not self.paused:
            os.killpg(self.process.pid, signal.SIGSTOP)
            self.paused = True

    def resume(self) -> None:
        if self.alive() and self.paused:
            os.killpg(self.process.pid, signal.SIGCONT)
        self.paused = False

    def stop(self) -> None:
        self.stopping.set()
        (RUN_DIR / f"{self.name}.pid").unlink(missing_ok=True)
        if not self.alive():
            return
        # A paused process (`offline`, or kill -STOP by hand) cannot handle SIGINT.
        os.killpg(self.process.pid, signal.SIGCONT)
        self.paused = False
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            say(f"{self.name} did not stop within 15 s; killing it.")
            self.process.kill()
            self.process.wait()
        if self.relay is not None:
            self.relay.join(timeout=5)  # its last lines, before ours


def lvmbeat_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "lvmbeat", *args]


def monitor_part(table_connection_string: str, key: str) -> Part:
    env = {
        "LVMBEAT_STORAGE_CONNECTION_STRING": table_connection_string,
        "LVMBEAT_FUNCTION_KEY": key,
        "LVMBEAT_EMAIL_BACKEND": "outbox",
        "LVMBEAT_EMAIL_OUTBOX": str(OUTBOX),
        "LVMBEAT_EMAIL_RECIPIENTS": "LVM Critical Alerts <lvm-critical@localhost>",
        "LVMBEAT_EMAIL_FROM_ADDRESS": "lvmbeat monitor <lvmbeat@localhost>",
        "LVMBEAT_SEND_EMAIL_AFTER": SEND_EMAIL_AFTER,
        "LVMBEAT_CHECK_SCHEDULE": CHECK_SCHEDULE,
    }
    args = ["monitor", "serve", "--host", MONITOR_HOST, "--port", str(MONITOR_PORT)]
    return Part("monitor", lvmbeat_command(*args), env)


def site_parts(key: str) -> list[Part]:
    """The LCO side: simulated lvmecp, the actor and, if asked, an Overwatcher."""
    actor_env = {
        "LVMBEAT_OUTSIDE_MONITOR_URL": f"http://{MONITOR_HOST}:{MONITOR_PORT}",
        "LVMBEAT_OUTSIDE_MONITOR_KEY": key,
    }
    config_args = ["-c", str(LOCAL_CONFIG)] if LOCAL_CONFIG.exists() else []
    if not config_args:
        say(f"{LOCAL_CONFIG} not found: the actor runs on its packaged defaults.")
    parts = [
        Part("lvmecp-sim", lvmbeat_command("simulate", "ecp"), {}),
        Part(
            "actor",
            lvmbeat_command(*config_args, "actor", "start", "--debug"),
            actor_env,
        ),
    ]
    if os.environ.get("LVMBEAT_RUN_OVERWATCHER", "") not in ("", "0"):
        parts.append(
            Part("overwatcher", lvmbeat_command("simulate", "overwatcher"), {})
        )
    return parts


def print_guide(azurite_endpoint: str) -> None:
    monitor = f"http://{MONITOR_HOST}:{MONITOR_PORT}"
    key = shown(KEY_FILE)
    print(
        f"""
lvmbeat is running locally. Ctrl-C stops everything.

  Azurite tables   {azurite_endpoint}
  monitor          {monitor}   (check every {CHECK_SCHEDULE!r}, alert after {SEND_EMAIL_AFTER} s of silence)
  function key     in {key}
  RabbitMQ         {RABBITMQ[0]}:{RABBITMQ[1]} (actors: lvmbeat, lvmecp)
  emails land in   {shown(OUTBOX)}/

In another terminal, from the repository root:
  .venv/bin/lvmbeat simulate overwatcher          # Overwatcher heartbeats (Ctrl-C stops)
  .venv/bin/lvmbeat send lvmbeat status           # the actor's view
  curl {monitor}/status                # the monitor's view
  curl -H "x-functions-key: $(cat {key})" {monitor}/heartbeat
Type here, then Enter:
  offline   LCO loses its internet link (the actor is paused); the alert follows
  online    the link is back; the all-clear follows
""",  # noqa: E501 - a guide reads better unwrapped
        flush=True,
    )


def read_commands(parts: dict[str, Part], stop: threading.Event) -> None:
    """`offline` / `online` typed on the terminal `make run` runs in."""
    actor = parts.get("actor")
    for line in sys.stdin:
        command = line.strip().lower()
        if stop.is_set():
            return
        if command == "offline" and actor is not None:
            actor.pause()
            say(
                "LCO is offline: the actor is paused; no heartbeat reaches the "
                f"monitor. The alert lands in {shown(OUTBOX)}/ after "
                f"{SEND_EMAIL_AFTER} s. Type `online` to bring it back."
            )
        elif command == "online" and actor is not None:
            actor.resume()
            say("LCO is online again: the next check sends the all-clear (if alerted).")
        elif command:
            say("Commands: offline, online. Ctrl-C stops everything.")


def prepare_run_dir() -> str:
    """A fresh outbox and a function key for this run only (not a secret elsewhere)."""
    OUTBOX.mkdir(parents=True, exist_ok=True)
    for old in OUTBOX.glob("*.eml"):
        old.unlink()
    key = secrets.token_urlsafe(24)
    KEY_FILE.write_text(key + "\n")
    KEY_FILE.chmod(0o600)
    return key


def main() -> int:
    if port_is_open(MONITOR_HOST, MONITOR_PORT):
        print(
            f"Port {MONITOR_PORT} is already in use; stop what listens there or set "
            "LVMBEAT_RUN_MONITOR_PORT to a free port.",
            file=sys.stderr,
        )
        return 1
    if not port_is_open(*RABBITMQ):
        print(
            f"RabbitMQ does not answer at {RABBITMQ[0]}:{RABBITMQ[1]}; run "
            "scripts/ensure_rabbitmq.sh (make run does) and try again.",
            file=sys.stderr,
        )
        return 1
    key = prepare_run_dir()
    try:
        azurite = start_azurite_tables(port=free_port())
    except (AzuriteMissing, ServiceNotReady) as error:
        print(f"Could not start Azurite: {error}", file=sys.stderr)
        return 1
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    monitor = monitor_part(azurite.connection_string, key)
    parts = [monitor]
    try:
        monitor.start()
        try:
            wait_for_port(
                MONITOR_HOST,
                MONITOR_PORT,
                timeout=60,
                what="the monitor's local host",
                alive=monitor.alive,
            )
        except ServiceNotReady as error:
            say(f"{error} Its output is above; the rest of the chain is not started.")
            return 1
        for part in site_parts(key):
            parts.append(part)
            part.start()
        print_guide(azurite.endpoint)
        if sys.stdin.isatty():
            threading.Thread(
                target=read_commands,
                args=({p.name: p for p in parts}, stop),
                daemon=True,
            ).start()
        else:
            say(
                "stdin is not a terminal: to take LCO offline, run "
                f"`kill -STOP $(cat {shown(RUN_DIR)}/actor.pid)` "
                "(and -CONT to bring it back)."
            )
        stop.wait()
        print("\nStopping the local chain...", flush=True)
    finally:
        for part in reversed(parts):
            part.stop()
        azurite.stop()
        KEY_FILE.unlink(missing_ok=True)
    print("Everything started by `make run` has stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
