"""The `lvmbeat` command line: one group per part of the system, one module each."""

from __future__ import annotations

import click

from lvmbeat import __version__
from lvmbeat.cli.actor import actor
from lvmbeat.cli.monitor import monitor
from lvmbeat.cli.send import send
from lvmbeat.cli.simulate import simulate


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-c",
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=str),
    default=None,
    help="Actor config merged over the packaged default "
    "(default: $LVMBEAT_CONFIG_PATH, if set).",
)
@click.version_option(__version__, prog_name="lvmbeat")
@click.pass_context
def lvmbeat(ctx: click.Context, config_path: str | None) -> None:
    """Heartbeat relay for the LVM dome PLC, and the external monitor's local host."""
    ctx.ensure_object(dict)
    ctx.obj["config_path"] = config_path


lvmbeat.add_command(actor)
lvmbeat.add_command(monitor)
lvmbeat.add_command(simulate)
lvmbeat.add_command(send)


def main() -> None:
    lvmbeat(obj={})
