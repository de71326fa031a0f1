"""`python -m lvmbeat` and the `lvmbeat` console script."""

from __future__ import annotations

from lvmbeat.cli import main


if __name__ == "__main__":
    main()
