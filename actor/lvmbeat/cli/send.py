"""`lvmbeat send ACTOR COMMAND [ARGS...]`: one command to a CLU actor, replies printed.

The clu CLI is interactive only; this is the scriptable one-shot used by the `make run`
walk-through. It exits non-zero when the command fails or does not finish in time.
"""

from __future__ import annotations

import asyncio
import json
import sys

import click

from clu import AMQPClient


async def _send(
    actor: str, words: tuple[str, ...], host: str, port: int, timeout: float
) -> bool:
    client = AMQPClient(host=host, port=port)
    try:
        await asyncio.wait_for(client.start(), timeout=timeout)
    except (ConnectionError, TimeoutError) as error:
        raise click.ClickException(
            f"Cannot reach RabbitMQ at {host}:{port}: {error or 'timed out'}."
        ) from None
    try:
        command = await client.send_command(actor, " ".join(words), await_command=False)
        try:
            await asyncio.wait_for(command, timeout=timeout)
        except TimeoutError:
            raise click.ClickException(
                f"{actor} did not finish {' '.join(words)!r} within {timeout} s; "
                "is the actor running?"
            ) from None
        for reply in command.replies:
            code = getattr(reply.message_code, "value", reply.message_code)
            body = json.dumps(reply.message) if reply.message else ""
            click.echo(f"{actor} {code} {body}".rstrip())
        return command.status.did_succeed
    finally:
        await client.stop()


@click.command()
@click.argument("actor")
@click.argument("words", nargs=-1, required=True, metavar="COMMAND [ARGS]...")
@click.option("--host", default="localhost", show_default=True, help="RabbitMQ host.")
@click.option("--port", default=5672, show_default=True, type=int)
@click.option("--timeout", default=10.0, show_default=True, type=float)
def send(actor: str, words: tuple[str, ...], host: str, port: int, timeout: float):
    """Send COMMAND to ACTOR, print its replies, fail if the command fails."""
    if not asyncio.run(_send(actor, words, host, port, timeout)):
        sys.exit(1)
