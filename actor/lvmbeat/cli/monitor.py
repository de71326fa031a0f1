"""`lvmbeat monitor serve`: the function app's local host.

The host lives in `lvmbeat_local`, outside the actor's package, with dependencies the
actor does not install (extra `local`). This command is the one seam: it loads the host
when run and, when it is not installed, says which extra to install.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from types import ModuleType

import click


LOCAL_EXTRA = "local"


def load_local(module: str) -> ModuleType:
    """Import `module` of the local tools, or fail with the extra that provides it."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        raise click.ClickException(
            "`lvmbeat monitor` needs the local host and the monitor's packages, which "
            f"this install lacks ({error.name} is missing). "
            f"Install the '{LOCAL_EXTRA}' "
            f"extra: pip install 'lvmbeat[{LOCAL_EXTRA}]' (in a checkout: "
            f"pip install -e '.[{LOCAL_EXTRA}]')."
        ) from None


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
    "--request-timeout",
    default=10.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds a client has to send a request's head, then its body (else 408).",
)
@click.option(
    "--idle-timeout",
    default=30.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds an idle keep-alive connection stays open.",
)
def serve(
    host: str,
    port: int,
    app_dir: Path | None,
    request_timeout: float,
    idle_timeout: float,
) -> None:
    """Serve every trigger of function_app.app locally, as `func start` would.

    HTTP triggers answer at their routes; timers run on their NCRONTAB schedules.
    Settings come from the environment and function_app/local.settings.json
    (environment wins). With LVMBEAT_FUNCTION_KEY set, function-level routes need that
    key (`code` query parameter or `x-functions-key` header).
    """
    server = load_local("lvmbeat_local.host.server")

    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # The Azure SDK logs every storage request at INFO; keep the host's lines readable.
    logging.getLogger("azure").setLevel(logging.WARNING)
    try:
        options = server.HostOptions(
            host=host,
            port=port,
            app_dir=app_dir,
            request_timeout=request_timeout,
            idle_timeout=idle_timeout,
        )
        server.run_host(options)
    except server.HostError as error:
        raise click.ClickException(str(error)) from error
    except KeyboardInterrupt:  # Ctrl-C while the app was still being imported
        raise SystemExit(130) from None
