"""`lvmbeat actor start|stop|restart|status`: the on-site actor's daemon commands."""

from __future__ import annotations

import click


@click.group()
def actor() -> None:
    """Run the lvmbeat CLU actor."""


@actor.command()
@click.option(
    "--debug", is_flag=True, help="Run in the foreground, logging to the terminal."
)
def start(debug: bool) -> None:
    """Start the actor."""
    raise click.ClickException("The lvmbeat actor is not built yet (issue 6).")
