"""`lvmbeat monitor serve`: the function app's local host."""

from __future__ import annotations

import logging
from pathlib import Path

import click


@click.group()
def monitor() -> None:
    """The external monitor (Azure Functions app) on this machine."""


@monitor.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=7071, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--app-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder holding function_app.py and host.json "
    "(default: $LVMBEAT_FUNCTION_APP_DIR, else the repository's function_app/).",
)
@click.option(
    "--verbose",
    "-v",
    is_flag=True,
    help="Also log each request and each timer run (DEBUG).",
)
def serve(host: str, port: int, app_dir: Path | None, verbose: bool) -> None:
    """Serve every trigger of function_app.app locally, as `func start` would.

    HTTP triggers answer at their routes; timers run on their NCRONTAB schedules.
    Settings come from the environment and function_app/local.settings.json
    (environment wins). With LVMBEAT_FUNCTION_KEY set, function-level routes need that
    key (`code` query parameter or `x-functions-key` header).
    """
    from lvmbeat.functions_host.errors import HostError
    from lvmbeat.functions_host.server import HostOptions, run_host

    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # The Azure SDK logs every storage request at INFO; keep the host's lines readable.
    logging.getLogger("azure").setLevel(logging.WARNING)
    if verbose:  # the host's and the app's own DEBUG lines, not every library's
        for name in ("lvmbeat.functions_host", "lvmbeat_monitor"):
            logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        run_host(HostOptions(host=host, port=port, app_dir=app_dir))
    except HostError as error:
        raise click.ClickException(str(error)) from error
    except KeyboardInterrupt:  # Ctrl-C while the app was still being imported
        raise SystemExit(130) from None
