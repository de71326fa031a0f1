"""The external monitor's own package: it notices LCO going silent and tells people.

The release's version lives in the file VERSION beside this one: this folder deploys
to Azure on its own, so the monitor reads it here, and the installable `lvmbeat`
distribution (the actor, its image) takes its version from the same file.
"""

from __future__ import annotations

from pathlib import Path


__version__ = (Path(__file__).with_name("VERSION")).read_text().strip()
