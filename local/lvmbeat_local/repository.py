"""Find the lvmbeat repository by what it holds, not by counting parent folders.

The local tools need files that only a checkout has (function_app/, node_modules/,
actor/config.local.yaml). Counting `parents[N]` breaks the day a module moves; a marker
does not: the repository is the first folder, walking up, that holds both
`pyproject.toml` and `function_app/`.
"""

from __future__ import annotations

from pathlib import Path


MARKERS = ("pyproject.toml", "function_app")


class RepositoryNotFound(RuntimeError):
    """No folder above the places searched looks like the lvmbeat repository."""


def is_repository(path: Path) -> bool:
    return (path / MARKERS[0]).is_file() and (path / MARKERS[1]).is_dir()


def find_repository(*starts: Path) -> Path:
    """The repository holding `starts` (default: this package, then the current
    folder); RepositoryNotFound names the folders searched and what to do."""
    searched = starts or (Path(__file__), Path.cwd())
    for start in searched:
        start = start.resolve()
        for folder in (start, *start.parents):
            if is_repository(folder):
                return folder
    raise RepositoryNotFound(
        "No lvmbeat repository (a folder holding pyproject.toml and function_app/) "
        f"above {', '.join(str(s) for s in searched)}; run this from a checkout of "
        "lvmbeat (git clone https://github.com/sdss/lvmbeat)."
    )
