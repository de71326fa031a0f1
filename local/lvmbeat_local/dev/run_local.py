"""`make run`: the whole lvmbeat chain on this machine, on embedded defaults.

Starts Azurite's table service, the monitor's local Functions host (`outbox` email
backend, a short LVMBEAT_SEND_EMAIL_AFTER, a check every 5 s, a function key made for
this run), the simulated lvmecp and the lvmbeat actor pointed at the monitor, prefixes
each part's output with its name, and stops everything it started on Ctrl-C.

Parts start in dependency order, each once the one it needs said it is ready:
monitor, simulated lvmecp, actor, then (LVMBEAT_RUN_OVERWATCHER=1) an Overwatcher.

The actor reaches the monitor, and probes its `outside` check, through a relay that
plays LCO's internet link (dev/link.py). Typing `offline` cuts it while the actor keeps
running, as at LCO: the monitor hears nothing and emails the alert (quoting LCO's last
word) to the outbox; the actor's `outside` check goes down, it stops writing the PLC
heartbeat, the simulated dome closes and lvmecp sets its network-failure flag.
`online` restores the link. `freeze` / `thaw` stop and resume the actor process itself
(SIGSTOP / SIGCONT): the "actor died" story, where LCO's network is fine but nobody
calls the monitor or writes the PLC heartbeat. A part that ends early is reported with
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

import yaml

from lvmbeat_local.dev.azurite import AzuriteMissing, start_azurite_tables
from lvmbeat_local.dev.children import stop_child
from lvmbeat_local.dev.link import InternetLink
from lvmbeat_local.dev.ports import (
    ServiceNotReady,
    free_port,
    port_is_open,
    wait_for_port,
)
from lvmbeat_local.dev.slack_stub import slack_stand_in
from lvmbeat_local.dev.webhook_stub import webhook_stand_in
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
# config.local.yaml with the `outside` check pointed at the internet link.
RUN_CONFIG = RUN_DIR / "actor.yaml"
MONITOR_HOST = "127.0.0.1"
MONITOR_PORT = int(os.environ.get("LVMBEAT_RUN_MONITOR_PORT", "7071"))
RABBITMQ = ("127.0.0.1", 5672)
SEND_EMAIL_AFTER = os.environ.get("LVMBEAT_SEND_EMAIL_AFTER", "30")
CHECK_SCHEDULE = os.environ.get("LVMBEAT_CHECK_SCHEDULE", "*/5 * * * * *")
# LVMBEAT_RUN_VERBOSE=1 shows every line; by default the per-command lines CLU and
# the actor write at each `set` and `status` (several a second) are left out.
VERBOSE = os.environ.get("LVMBEAT_RUN_VERBOSE", "") not in ("", "0")
READY_TIMEOUT = 60.0


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
    # A line the part prints once it serves; the next part waits for it.
    ready_marker: str | None = None
    ready: threading.Event = field(default_factory=threading.Event)
    # Lines left out unless LVMBEAT_RUN_VERBOSE=1 (substrings).
    hidden: tuple[str, ...] = ()

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
            if self.ready_marker and self.ready_marker in line:
                self.ready.set()
            if not VERBOSE and any(text in line for text in self.hidden):
                continue
            print(f"[{self.name}] {line}", end="", flush=True)
        code = self.process.wait()
        if self.stopping.is_set():
            print(f"[{self.name}] stopped (status {code}).", flush=True)
        else:
            say(
                f"{self.name} ended on its own with status {code}; its last lines are "
                "above. The other parts keep running; Ctrl-C stops them."
            )

    def wait_ready(self) -> None:
        """Until the part printed its ready line; ServiceNotReady if it ended or
        took longer than READY_TIMEOUT."""
        waited = 0.0
        while not self.ready.wait(timeout=0.5):
            waited += 0.5
            if not self.alive():
                raise ServiceNotReady(f"{self.name} ended before it was ready.")
            if waited >= READY_TIMEOUT:
                raise ServiceNotReady(
                    f"{self.name} did not say {self.ready_marker!r} within "
                    f"{READY_TIMEOUT:g} s."
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
        if stop_child(self.process, signal.SIGINT, timeout=15):
            say(f"{self.name} did not stop within 15 s; it was killed.")
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


def write_actor_config(link_port: int) -> Path:
    """config.local.yaml, with the `outside` check probing the internet link."""
    raw = yaml.safe_load(LOCAL_CONFIG.read_text()) if LOCAL_CONFIG.exists() else {}
    if not LOCAL_CONFIG.exists():
        say(f"{LOCAL_CONFIG} not found: the actor runs on its packaged defaults.")
    checks = raw.setdefault("network", {}).setdefault("checks", {})
    checks["outside"] = {"method": "tcp", "host": MONITOR_HOST, "port": link_port}
    RUN_CONFIG.write_text(
        f"# Written by `make run` from {shown(LOCAL_CONFIG)}: `outside` probes the "
        "relay that plays LCO's internet link.\n" + yaml.safe_dump(raw, sort_keys=False)
    )
    return RUN_CONFIG


def site_parts(key: str, link: InternetLink) -> list[Part]:
    """The LCO side, in the order each needs the previous: the simulated lvmecp, the
    actor (which sends it `heartbeat`) and, if asked, an Overwatcher."""
    actor_env = {
        "LVMBEAT_OUTSIDE_MONITOR_URL": f"http://{MONITOR_HOST}:{link.port}",
        "LVMBEAT_OUTSIDE_MONITOR_KEY": key,
    }
    config = write_actor_config(link.port)
    parts = [
        Part(
            "lvmecp-sim",
            lvmbeat_command("simulate", "ecp"),
            {},
            ready_marker="Dome open;",
        ),
        Part(
            "actor",
            lvmbeat_command("-c", str(config), "actor", "start", "--debug"),
            actor_env,
            ready_marker="connected to",
            hidden=("New command received", "Emission decision after set"),
        ),
    ]
    if os.environ.get("LVMBEAT_RUN_OVERWATCHER", "") not in ("", "0"):
        parts.append(
            Part(
                "overwatcher",
                lvmbeat_command("simulate", "overwatcher", "--host", RABBITMQ[0]),
                {},
            )
        )
    return parts


def print_guide(azurite_endpoint: str, link: InternetLink) -> None:
    monitor = f"http://{MONITOR_HOST}:{MONITOR_PORT}"
    key = shown(KEY_FILE)
    print(
        f"""
lvmbeat is running locally. Ctrl-C stops everything.

  Azurite tables   {azurite_endpoint}
  status page      {monitor}/   (open it in a browser; `lvmbeat monitor status` in a terminal)
  monitor          {monitor}   (check every {CHECK_SCHEDULE!r}, alert after {SEND_EMAIL_AFTER} s of silence)
  function key     in {key}
  LCO's internet   127.0.0.1:{link.port}, a relay to the monitor: the actor's monitor calls and its `outside` check go through it
  RabbitMQ         {RABBITMQ[0]}:{RABBITMQ[1]} (actors: lvmbeat, lvmecp)
  emails land in   {shown(OUTBOX)}/
  Slack, webhook   printed here by local stand-ins ([slack], [webhook]); reminders every {os.environ.get("LVMBEAT_REMIND_EVERY", "60")} s

In another terminal, from the repository root:
  .venv/bin/lvmbeat simulate overwatcher          # Overwatcher heartbeats (Ctrl-C stops)
  .venv/bin/lvmbeat send lvmbeat status           # the actor's view
  .venv/bin/lvmbeat send lvmecp status            # the dome, the PLC heartbeat, the network flag
  .venv/bin/lvmbeat send lvmecp open              # reopen the dome after the PLC closed it
  curl {monitor}/status                # the monitor's view, with LCO's last word
Type here, then Enter:
  offline   LCO loses its internet link (the actor keeps running); the alert follows
  online    the link is back; the all-clear follows
  freeze    the actor process stops (SIGSTOP): "the actor died"; `thaw` resumes it
""",  # noqa: E501 - a guide reads better unwrapped
        flush=True,
    )


def read_commands(
    parts: dict[str, Part], link: InternetLink, stop: threading.Event
) -> None:
    """`offline` / `online` / `freeze` / `thaw` typed (or piped) into `make run`."""
    actor = parts.get("actor")
    for line in sys.stdin:
        command = line.strip().lower()
        if stop.is_set():
            return
        if command == "offline":
            link.cut()
            say(
                "LCO is offline: the actor runs on but reaches neither the monitor "
                "nor its `outside` check. Watch it stop writing the PLC heartbeat "
                "(about 15 s), the dome close and lvmecp set its network flag; the "
                f"alert lands in {shown(OUTBOX)}/ after {SEND_EMAIL_AFTER} s of "
                "silence. Type `online` to bring LCO back."
            )
        elif command == "online":
            link.restore()
            say(
                "LCO is online again: the next check sends the all-clear (if alerted). "
                "The dome stays closed until `lvmbeat send lvmecp open`."
            )
        elif command == "freeze" and actor is not None:
            actor.pause()
            say(
                "The actor is frozen (SIGSTOP), as if it died: no monitor calls, no "
                "PLC heartbeat. Type `thaw` to resume it."
            )
        elif command == "thaw" and actor is not None:
            actor.resume()
            say("The actor runs again.")
        elif command:
            say("Commands: offline, online, freeze, thaw. Ctrl-C stops everything.")


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
    link = InternetLink(target_port=MONITOR_PORT).start()
    monitor = monitor_part(azurite.connection_string, key)
    # --- Slack and webhook stand-ins (issue 13): local servers that print what the
    # monitor posts, so every channel shows in the walk-through. Token and secret are
    # made for this run only.
    channel_token = secrets.token_urlsafe(16)
    stand_ins = [
        slack_stand_in(
            channel_token, lambda text: print(f"[slack] {text}", flush=True)
        ),
        webhook_stand_in(
            channel_token, lambda text: print(f"[webhook] {text}", flush=True)
        ),
    ]
    slack, webhook = (stand_in.start() for stand_in in stand_ins)
    monitor.env.update(
        {
            "LVMBEAT_SLACK_TOKEN": channel_token,
            "LVMBEAT_SLACK_API_URL": f"http://127.0.0.1:{slack.port}/api/",
            "LVMBEAT_WEBHOOK_URL": f"http://127.0.0.1:{webhook.port}/lvmbeat",
            "LVMBEAT_WEBHOOK_SECRET": channel_token,
            "LVMBEAT_REMIND_EVERY": os.environ.get("LVMBEAT_REMIND_EVERY", "60"),
        }
    )
    # --- end of the stand-ins' block (they stop below, with the other parts).
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
            for part in site_parts(key, link):
                parts.append(part)
                part.start()
                if part.ready_marker:
                    part.wait_ready()  # the next part needs this one
        except ServiceNotReady as error:
            say(f"{error} Its output is above; the rest of the chain is not started.")
            return 1
        print_guide(azurite.endpoint, link)
        # Typed at a terminal or piped in; at end of input the chain keeps running.
        threading.Thread(
            target=read_commands,
            args=({p.name: p for p in parts}, link, stop),
            daemon=True,
        ).start()
        stop.wait()
        print("\nStopping the local chain...", flush=True)
    finally:
        for part in reversed(parts):
            part.stop()
        for stand_in in stand_ins:
            stand_in.stop()
        link.stop()
        azurite.stop()
        KEY_FILE.unlink(missing_ok=True)
    print("Everything started by `make run` has stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
