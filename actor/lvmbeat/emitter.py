"""Sends `lvmecp heartbeat` in the background when the emission rule holds.

The first actor awaited lvmecp inside `set`, so a slow PLC call made every `set` slow.
Here `set` only *considers* an emission: the decision is a pure function, the command
runs in its own task with a time limit, at most one is in flight, and its outcome is
logged once per change and shown in `status`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from enum import StrEnum

from clu import AMQPClient

from lvmbeat.clock import Clock, iso_z, utc_now
from lvmbeat.config import EcpSection
from lvmbeat.tally import Tally


class Decision(StrEnum):
    """What a `set` leads to."""

    EMIT = "emit"
    STALE = "critical heartbeat not current"
    NETWORK_DOWN = "blocking network check down"
    CUTOFF = "within cutoff of the last emission"
    IN_FLIGHT = "an emission is already in flight"


class EmissionState(StrEnum):
    """Outcome of the latest emission attempt, as shown in `status`."""

    NEVER = "never"
    OK = "ok"
    FAILED = "failed"
    TIMEOUT = "timeout"


class CommandFailed(Exception):
    """The target actor failed the command (or could not be reached)."""


def decide(
    *,
    critical_current: bool,
    blocking_down: Sequence[str],
    in_flight: bool,
    last_emitted: datetime | None,
    now: datetime,
    cutoff: float,
) -> Decision:
    """The contract's emission rule, plus "at most one in flight". No I/O.

    The cutoff counts from the last *successful* emission: after a failure the next
    `set` retries at once, because the PLC closes the dome within about a minute.
    """
    if not critical_current:
        return Decision.STALE
    if blocking_down:
        return Decision.NETWORK_DOWN
    if in_flight:
        return Decision.IN_FLIGHT
    if last_emitted is not None and now - last_emitted < timedelta(seconds=cutoff):
        return Decision.CUTOFF
    return Decision.EMIT


async def send_bounded(
    client: AMQPClient, actor: str, command_string: str, timeout: float
) -> None:
    """Send one command and wait for its end, never longer than ``timeout`` in total.

    While the broker is down CLU's publish blocks without a limit, so the publish is
    inside the same bound as the reply. Raises `TimeoutError` or `CommandFailed`.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    # Our own id, so the entry CLU registers before publishing can always be removed:
    # a command that timed out (even mid-publish) would otherwise stay there forever.
    command_id = str(uuid.uuid4())
    try:
        command = await asyncio.wait_for(
            client.send_command(
                actor, command_string, command_id=command_id, await_command=False
            ),
            timeout=timeout,
        )
        await asyncio.wait_for(command, timeout=max(deadline - loop.time(), 0))
    finally:
        client.running_commands.pop(command_id, None)
    if command.status.did_fail:
        errors = [
            str(reply.message["error"])
            for reply in command.replies
            if isinstance(reply.message, dict) and "error" in reply.message
        ]
        reason = "; ".join(errors) or f"status {command.status.name}"
        raise CommandFailed(f"{actor} {command_string} failed: {reason}")


class Emitter:
    """Runs emissions in the background and remembers how the latest one went."""

    def __init__(
        self,
        config: EcpSection,
        *,
        send: Callable[[], Awaitable[None]],
        log: logging.Logger,
        clock: Clock = utc_now,
    ):
        self.config = config
        self.send = send
        self.log = log
        self.clock = clock
        self.last_emitted: datetime | None = None
        self.last_attempt: datetime | None = None
        self.last_error: str | None = None
        self.state = EmissionState.NEVER
        #: Finished attempts, awaitable (`await emitter.attempts.reach(n)`).
        self.attempts = Tally()
        self._task: asyncio.Task[None] | None = None

    @property
    def target(self) -> str:
        return f"{self.config.actor} {self.config.command}"

    @property
    def in_flight(self) -> bool:
        return self._task is not None and not self._task.done()

    def consider(
        self, *, critical_current: bool, blocking_down: Sequence[str]
    ) -> Decision:
        """Apply the rule now and, when it says so, start an emission. Never waits."""
        decision = decide(
            critical_current=critical_current,
            blocking_down=blocking_down,
            in_flight=self.in_flight,
            last_emitted=self.last_emitted,
            now=self.clock(),
            cutoff=self.config.cutoff,
        )
        if decision is Decision.EMIT:
            self._task = asyncio.create_task(self._emit(), name=f"emit {self.target}")
        return decision

    async def _emit(self) -> None:
        started = self.clock()
        self.last_attempt = started
        try:
            # A second bound, for senders that do not bound themselves.
            await asyncio.wait_for(self.send(), timeout=self.config.command_timeout)
        except TimeoutError:
            self._record(
                EmissionState.TIMEOUT,
                f"{self.target} did not finish within {self.config.command_timeout} s",
            )
        except CommandFailed as error:
            self._record(EmissionState.FAILED, str(error))
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - logged with its cause below
            self.log.exception(f"Unexpected error while sending {self.target}.")
            self._record(EmissionState.FAILED, f"{type(error).__name__}: {error}")
        else:
            self.last_emitted = started
            self._record(EmissionState.OK, None)
        self.attempts.add()

    def _record(self, state: EmissionState, error: str | None) -> None:
        previous = self.state
        self.state = state
        self.last_error = error
        if state is previous:
            return
        if state is EmissionState.OK:
            if previous is not EmissionState.NEVER:
                self.log.warning(f"{self.target} succeeds again.")
        else:
            self.log.error(
                f"{error} (last_emitted_ecp stays {iso_z(self.last_emitted)}); "
                "retrying on the next set."
            )

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self._task = None
