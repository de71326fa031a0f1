"""`lvmbeat simulate ecp`: stand-ins for the actors lvmbeat talks to."""

from __future__ import annotations

import click


@click.group()
def simulate() -> None:
    """Simulated peers for local runs and tests."""


@simulate.command()
def ecp() -> None:
    """Run a simulated lvmecp that models the PLC heartbeat."""
    raise click.ClickException("The simulated lvmecp is not built yet (issue 6).")
