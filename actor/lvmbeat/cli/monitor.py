"""`lvmbeat monitor serve`: the function app's local host."""

from __future__ import annotations

import click


@click.group()
def monitor() -> None:
    """The external monitor (Azure Functions app) on this machine."""


@monitor.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=7071, show_default=True, type=int)
def serve(host: str, port: int) -> None:
    """Serve every trigger of function_app.app locally."""
    raise click.ClickException("The local Functions host is not built yet (issue 3).")
