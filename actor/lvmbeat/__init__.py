"""lvmbeat: the heartbeat relay between LVM's critical actors and the dome PLC."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


try:
    __version__ = version("lvmbeat")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"
