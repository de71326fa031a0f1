"""`lvmbeat actor start|stop|restart|status`: the on-site actor's daemon commands.

The CLU daemon convention (sdsstools' `DaemonGroup`): `start` detaches, `start --debug`
runs in the foreground logging to the terminal, `stop`/`restart`/`status` act on the
daemon through its pid file. The config comes from the root group's `-c` or
$LVMBEAT_CONFIG_PATH.
"""

from __future__ import annotations

import asyncio
import os

import click

from sdsstools.daemonizer import DaemonGroup

from lvmbeat.actor import ActorStartError, BeatActor, actor_log_level
from lvmbeat.cli._running import until_signalled
from lvmbeat.config import ConfigError, load_config


def _config_path(ctx: click.Context) -> str | None:
    root = ctx.find_root()
    return (root.obj or {}).get("config_path")


@click.group(cls=DaemonGroup, prog="lvmbeat_actor", work_dir=os.getcwd())
def actor() -> None:
    """Run the lvmbeat CLU actor."""
    # DaemonGroup makes this function the daemon's worker: it runs under `start`.
    ctx = click.get_current_context()
    debug = bool(ctx.params.get("debug", False))
    try:
        config = load_config(_config_path(ctx))
    except ConfigError as error:
        raise click.ClickException(str(error)) from None
    try:
        asyncio.run(
            until_signalled(lambda: BeatActor(config, verbose=actor_log_level(debug)))
        )
    except ActorStartError as error:
        raise click.ClickException(str(error)) from None
