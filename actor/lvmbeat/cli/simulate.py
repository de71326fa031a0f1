"""`lvmbeat simulate ecp|overwatcher`: stand-ins for the actors lvmbeat talks to."""

from __future__ import annotations

import asyncio
import logging

import click

from clu import AMQPClient

from lvmbeat.cli._running import until_signalled
from lvmbeat.simulator import SimulatedEcp


@click.group()
def simulate() -> None:
    """Simulated peers for local runs and tests."""


@simulate.command()
@click.option("--name", default="lvmecp", show_default=True, help="Actor name.")
@click.option(
    "--delay", default=0.0, show_default=True, type=float, help="Seconds per heartbeat."
)
@click.option("--fail", is_flag=True, help="Fail every heartbeat, as a broken PLC.")
@click.option(
    "--dome-timeout",
    default=60.0,
    show_default=True,
    type=float,
    help="Seconds without heartbeat before the PLC closes the dome.",
)
@click.option(
    "--beat-actor",
    default="lvmbeat",
    show_default=True,
    help="Actor whose `status` sets the PLC's network-failure flag, polled every "
    "30 s as lvmecp does ('' for none). lvmecp polls `lvmbeat` whatever the actor's "
    "actor.name says.",
)
@click.option("--host", default="localhost", show_default=True, help="RabbitMQ host.")
@click.option("--port", default=5672, show_default=True, type=int)
def ecp(
    name: str,
    delay: float,
    fail: bool,
    dome_timeout: float,
    beat_actor: str,
    host: str,
    port: int,
) -> None:
    """Run a simulated lvmecp that models the PLC heartbeat and network flag."""
    click.echo(
        f"Simulated {name} on {host}:{port}: heartbeat delay {delay} s, "
        f"{'failing' if fail else 'succeeding'}, dome closes after {dome_timeout} s "
        "without heartbeat."
    )
    asyncio.run(
        until_signalled(
            lambda: SimulatedEcp(
                name,
                host=host,
                port=port,
                delay=delay,
                failing=fail,
                dome_timeout=dome_timeout,
                verbose=logging.INFO,
                beat_actor=beat_actor or None,
            )
        )
    )


async def _send_periodically(
    client: AMQPClient, actor: str, heartbeat: str, interval: float
) -> None:
    """`set` every interval, each bounded in time so a dead actor gets reported.
    The outcome is printed when it changes (not every few seconds)."""
    said = None
    while True:
        command = await client.send_command(
            actor, f"set {heartbeat}", await_command=False
        )
        try:
            await asyncio.wait_for(command, timeout=max(interval, 1.0))
        except TimeoutError:
            client.running_commands.pop(str(command.command_id), None)
            outcome = f"no answer (is {actor} running?)"
        else:
            if command.status.did_succeed:
                outcome = f"ok (every {interval:g} s; a change is printed)"
            else:
                errors = [
                    reply.message["error"]
                    for reply in command.replies
                    if "error" in reply.message
                ]
                outcome = f"FAILED {errors}"
        if outcome != said:
            click.echo(f"{actor} set {heartbeat}: {outcome}")
            said = outcome
        await asyncio.sleep(interval)


@simulate.command()
@click.option("--interval", default=5.0, show_default=True, type=float)
@click.option("--actor", "actor_name", default="lvmbeat", show_default=True)
@click.option("--name", default="overwatcher", show_default=True, help="Heartbeat.")
@click.option("--host", default="localhost", show_default=True, help="RabbitMQ host.")
@click.option("--port", default=5672, show_default=True, type=int)
def overwatcher(
    interval: float, actor_name: str, name: str, host: str, port: int
) -> None:
    """Send `set NAME` to the actor every INTERVAL seconds, as the Overwatcher does."""
    asyncio.run(
        until_signalled(lambda: _Overwatcher(actor_name, name, interval, host, port))
    )


class _Overwatcher:
    """A CLU client that sends `set` periodically until stopped."""

    def __init__(
        self, actor: str, heartbeat: str, interval: float, host: str, port: int
    ):
        self.client = AMQPClient(host=host, port=port)
        self.actor = actor
        self.heartbeat = heartbeat
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.client.start()
        self._task = asyncio.create_task(
            _send_periodically(self.client, self.actor, self.heartbeat, self.interval)
        )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.client.stop()
