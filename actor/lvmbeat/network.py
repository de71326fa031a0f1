"""Reachability probes (TCP connect, unprivileged ICMP echo), down-after-N hysteresis.

No root and no system binaries: the first actor shelled out to `nmap`, which needs
privileges a slim container does not have. A TCP probe is a plain connect; an ICMP probe
uses icmplib's unprivileged datagram sockets, which the host must allow through
`net.ipv4.ping_group_range` (see docs/actor.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

import icmplib

from lvmbeat.config import CheckMethod, NetworkCheckConfig, NetworkSection
from lvmbeat.tally import Tally


class ProbeFailed(Exception):
    """A probe did not reach its target; the message says why."""


class LinkState(StrEnum):
    UP = "up"
    DOWN = "down"


async def probe_tcp(host: str, port: int, timeout: float) -> None:
    """Open and close a TCP connection; raises `ProbeFailed` when that fails."""
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port), timeout=timeout
        )
    except TimeoutError:
        raise ProbeFailed(
            f"no TCP answer from {host}:{port} within {timeout} s"
        ) from None
    except OSError as error:
        raise ProbeFailed(
            f"TCP connect to {host}:{port} failed: {error.strerror or error}"
        ) from error
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass  # the peer may reset a connection we only opened to see it answer


async def probe_icmp(host: str, timeout: float) -> None:
    """One unprivileged ICMP echo; raises `ProbeFailed` without a reply."""
    try:
        reply = await icmplib.async_ping(
            host, count=1, timeout=timeout, privileged=False
        )
    except icmplib.SocketPermissionError as error:
        raise ProbeFailed(
            "this host does not allow unprivileged ICMP sockets; let the actor's group "
            "use them with `sysctl net.ipv4.ping_group_range='0 2147483647'` "
            "(or use method: tcp for this check)"
        ) from error
    except icmplib.ICMPLibError as error:
        raise ProbeFailed(f"ICMP echo to {host} failed: {error}") from error
    if not reply.is_alive:
        raise ProbeFailed(f"no ICMP echo reply from {host} within {timeout} s")


Probe = Callable[[], Awaitable[None]]


def make_probe(check: NetworkCheckConfig, timeout: float) -> Probe:
    if check.method is CheckMethod.TCP:
        assert check.port is not None  # the config model guarantees it
        return lambda: probe_tcp(check.host, check.port, timeout)
    return lambda: probe_icmp(check.host, timeout)


@dataclass
class CheckState:
    """One check's hysteresis: down after N failures in a row, up after one success."""

    failures_to_down: int
    state: LinkState = LinkState.UP
    consecutive_failures: int = 0
    last_error: str | None = None

    def record(self, error: str | None) -> bool:
        """Count one probe (``error`` None on success); True if the state flipped."""
        before = self.state
        if error is None:
            self.consecutive_failures = 0
            self.last_error = None
            self.state = LinkState.UP
        else:
            self.consecutive_failures += 1
            self.last_error = error
            if self.consecutive_failures >= self.failures_to_down:
                self.state = LinkState.DOWN
        return self.state is not before

    @property
    def up(self) -> bool:
        return self.state is LinkState.UP


class NetworkMonitor:
    """Probes every check concurrently each interval and keeps each one's state.

    Checks start "up": like any other change, going down takes ``failures_to_down``
    failed probes, so a restart does not stop emission before the network was probed.
    """

    def __init__(
        self,
        config: NetworkSection,
        *,
        log: logging.Logger,
        probes: Mapping[str, Probe] | None = None,
    ):
        self.config = config
        self.log = log
        timeout = config.probe_timeout
        self.probes: dict[str, Probe] = dict(probes or {}) or {
            name: make_probe(check, timeout) for name, check in config.checks.items()
        }
        self.states = {
            name: CheckState(config.failures_to_down) for name in config.checks
        }
        #: Finished probe rounds, awaitable (`await monitor.rounds.reach(n)`).
        self.rounds = Tally()

    def is_up(self, name: str) -> bool:
        return self.states[name].up

    def blocking_down(self) -> list[str]:
        """Checks that are down and configured to block emission."""
        return [name for name in self.config.block_emission if not self.states[name].up]

    async def _probe_one(self, name: str) -> str | None:
        # Each probe bounds itself; this outer limit also covers a probe that forgets.
        try:
            await asyncio.wait_for(
                self.probes[name](), timeout=self.config.probe_timeout + 1
            )
        except ProbeFailed as error:
            return str(error)
        except TimeoutError:
            return f"probe did not finish within {self.config.probe_timeout} s"
        return None

    async def probe_all(self) -> None:
        """One round: every check probed at the same time, then states updated."""
        names = list(self.probes)
        results = await asyncio.gather(*(self._probe_one(name) for name in names))
        for name, error in zip(names, results, strict=True):
            state = self.states[name]
            if state.record(error):
                check = self.config.checks[name]
                if state.up:
                    self.log.warning(
                        f"Network check {name!r} ({check.method} {check.target}) "
                        "is up again."
                    )
                else:
                    self.log.error(
                        f"Network check {name!r} ({check.method} {check.target}) is "
                        f"down after {state.consecutive_failures} failed probes: "
                        f"{error}"
                    )
        self.rounds.add()

    async def run(self) -> None:
        """Probe forever; a failure of the loop itself is logged, the loop goes on."""
        while True:
            try:
                await self.probe_all()
            except Exception:  # noqa: BLE001 - the loop must never die
                self.log.exception("Network probe round failed; retrying.")
            await asyncio.sleep(self.config.interval)
