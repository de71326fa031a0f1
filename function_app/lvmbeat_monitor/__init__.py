"""The external monitor's own package: it notices LCO going silent and emails people.

This folder deploys to Azure on its own, so the version lives here and the installable
`lvmbeat` distribution reads it from this file.
"""

from __future__ import annotations


__version__ = "1.0.0"
