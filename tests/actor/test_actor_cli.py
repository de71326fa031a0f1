"""The actor as operators run it: `lvmbeat -c CONFIG actor start --debug`, Ctrl-C."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest


def lvmbeat(*args: str) -> list[str]:
    return [sys.executable, "-m", "lvmbeat", *args]


@dataclass
class RunningActor:
    name: str
    process: subprocess.Popen
    output: list[str] = field(default_factory=list)

    def interrupt(self) -> int:
        """Ctrl-C, then the exit status once the process has ended."""
        self.process.send_signal(signal.SIGINT)
        rest, _ = self.process.communicate(timeout=30)
        self.output.append(rest)
        return self.process.returncode


@pytest.fixture
def running_actor(tmp_path, unique_name, rabbitmq) -> Iterator[RunningActor]:
    """The actor in the foreground with loopback checks, ready to take commands."""
    name = f"lvmbeat_cli_{unique_name}"
    config = tmp_path / "lvmbeat.yaml"
    config.write_text(
        f"actor: {{name: {name}, host: 127.0.0.1, log_dir: '{tmp_path / 'logs'}'}}\n"
        f"ecp: {{actor: lvmecp_cli_{unique_name}, command_timeout: 1}}\n"
        "network:\n"
        "  interval: 0.2\n"
        "  checks:\n"
        "    lco: {method: tcp, host: 127.0.0.1, port: 5672}\n"
        "    outside: {method: tcp, host: 127.0.0.1, port: 5672}\n"
    )
    process = subprocess.Popen(
        lvmbeat("-c", str(config), "actor", "start", "--debug"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    actor = RunningActor(name, process)
    assert process.stdout is not None
    for line in process.stdout:  # ready when the actor says so in its own log
        actor.output.append(line)
        if f"Actor '{name}' connected" in line:
            break
    else:
        pytest.fail("the actor exited before connecting:\n" + "".join(actor.output))
    yield actor
    if process.poll() is None:
        process.kill()
        process.communicate()


def send(*words: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        lvmbeat("send", *words), capture_output=True, text=True, timeout=60
    )


def test_the_actor_answers_on_the_command_line(running_actor):
    set_ok = send(running_actor.name, "set", "overwatcher")
    set_unknown = send(running_actor.name, "set", "nobody")
    status = send(running_actor.name, "status")

    assert set_ok.returncode == 0, set_ok.stdout + set_ok.stderr
    assert set_unknown.returncode == 1
    assert "Unknown heartbeat 'nobody'" in set_unknown.stdout
    assert '"internet": true' in status.stdout


def test_ctrl_c_stops_every_task_without_warnings(running_actor):
    assert send(running_actor.name, "set", "overwatcher").returncode == 0

    status = running_actor.interrupt()

    output = "".join(running_actor.output)
    assert status == 0, output
    for trouble in ("Traceback", "Task was destroyed", "never awaited", "Warning:"):
        assert trouble not in output
