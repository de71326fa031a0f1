"""Stopping a child process: ask, wait, and kill only if it hangs.

The local stand-ins, the host, the benches and the drills all start children (Azurite,
`lvmbeat monitor serve`, actors, the first monitor) that must end cleanly when they
can, so that they save their files and close their connections, and for certain when
they cannot.
"""

from __future__ import annotations

import signal
import subprocess


def stop_child(
    process: subprocess.Popen, signum: int = signal.SIGTERM, timeout: float = 30.0
) -> bool:
    """Send `signum` (when still running), wait up to `timeout` s for it to exit, kill
    it if it did not. True when it had to be killed; its exit status is then in
    `process.returncode` either way."""
    if process.poll() is not None:
        return False
    process.send_signal(signum)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return True
    return False
