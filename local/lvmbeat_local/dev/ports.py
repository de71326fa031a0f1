"""Free ports and readiness waits, so nothing has to sleep and hope a server is up."""

from __future__ import annotations

import socket
import time


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_is_open(host: str, port: int, timeout: float = 0.2) -> bool:
    """True when something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class ServiceNotReady(RuntimeError):
    """A local service did not start listening in time."""


def wait_for_port(
    host: str,
    port: int,
    *,
    timeout: float = 30.0,
    what: str = "service",
    alive=None,
) -> None:
    """Block until host:port accepts connections.

    ``alive`` is an optional callable returning False once the process serving the
    port has died, so a crashed service fails fast instead of after the whole timeout.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_is_open(host, port):
            return
        if alive is not None and not alive():
            raise ServiceNotReady(f"{what} exited before listening on {host}:{port}.")
        time.sleep(0.05)
    raise ServiceNotReady(
        f"{what} did not listen on {host}:{port} within {timeout:.0f} s; "
        "check its log for the cause."
    )
