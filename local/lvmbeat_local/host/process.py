"""Run `lvmbeat monitor serve` as a child process: for tests, `make run` and benches.

The child is the real CLI, so what is tested is what users run. `start_host_process`
returns once the port accepts connections (polled, no fixed sleep); `stop()` sends
SIGTERM, as a service manager would, and returns the exit status.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from lvmbeat_local.dev.children import stop_child
from lvmbeat_local.dev.ports import ServiceNotReady, free_port, wait_for_port


@dataclass
class HostProcess:
    host: str
    port: int
    process: subprocess.Popen
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, wait for the clean stop; kill only if it hangs. The exit status."""
        stop_child(self.process, signal.SIGTERM, timeout)
        return self.process.returncode


def start_host_process(
    *,
    log_path: Path,
    app_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
    host: str = "127.0.0.1",
    port: int | None = None,
    timeout: float = 30.0,
    inherit_env: bool = True,
    options: Sequence[str] = (),
) -> HostProcess:
    """Start the host and wait until it listens; raise ServiceNotReady with its log."""
    port = port or free_port(host)
    # --verbose: tests and benchmarks read the access and timer-run lines.
    args = [sys.executable, "-m", "lvmbeat", "monitor", "serve", "--verbose"]
    args += ["--host", host, "--port", str(port)]
    if app_dir is not None:
        args += ["--app-dir", str(app_dir)]
    args += options  # more `serve` options (--request-timeout, ...)
    child_env = {**(os.environ if inherit_env else {}), **(env or {})}
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            args,
            env=child_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    running = HostProcess(host, port, process, log_path)
    try:
        wait_for_port(
            host,
            port,
            timeout=timeout,
            what=f"lvmbeat monitor serve (log: {log_path})",
            alive=lambda: process.poll() is None,
        )
    except ServiceNotReady as error:
        running.stop()
        said = running.log_text()
        raise ServiceNotReady(f"{error}\nThe host said:\n{said}") from None
    return running
