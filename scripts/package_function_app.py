#!/usr/bin/env python3
"""`make package`: build dist/function_app.zip, the artefact Azure deploys.

It holds function_app/ as the Functions host expects it (function_app.py, host.json,
requirements.txt and the lvmbeat_monitor package at the zip's root), minus what
function_app/.funcignore excludes and what never belongs in a deployment (caches,
local settings, tests). Entries are sorted and timestamped alike, so the same sources
give the same zip.
"""

from __future__ import annotations

import argparse
import fnmatch
import sys
import zipfile
from pathlib import Path


REPO_ROOT = Path(__file__).resolve().parents[1]
SOURCE = REPO_ROOT / "function_app"
TARGET = REPO_ROOT / "dist" / "function_app.zip"
ALWAYS_EXCLUDED = ["__pycache__/", "*.pyc", "local.settings.json", "tests/"]
FIXED_TIME = (2024, 1, 1, 0, 0, 0)


def ignore_patterns(source: Path) -> list[str]:
    """The .funcignore patterns (gitignore-like: `name/` is a folder anywhere)."""
    funcignore = source / ".funcignore"
    lines = funcignore.read_text().splitlines() if funcignore.exists() else []
    patterns = [line.strip() for line in lines]
    return ALWAYS_EXCLUDED + [p for p in patterns if p and not p.startswith("#")]


def is_ignored(relative: Path, patterns: list[str]) -> bool:
    parts = relative.parts
    for pattern in patterns:
        if pattern.endswith("/"):  # a folder, at any depth
            folder = pattern.rstrip("/")
            if any(fnmatch.fnmatch(part, folder) for part in parts[:-1]):
                return True
        elif fnmatch.fnmatch(relative.as_posix(), pattern) or fnmatch.fnmatch(
            parts[-1], pattern
        ):
            return True
    return False


def package_files(source: Path = SOURCE) -> list[Path]:
    """The files to deploy, relative to `source`, sorted."""
    patterns = ignore_patterns(source)
    return sorted(
        path.relative_to(source)
        for path in source.rglob("*")
        if path.is_file() and not is_ignored(path.relative_to(source), patterns)
    )


def build(source: Path = SOURCE, target: Path = TARGET) -> list[str]:
    """Write the zip; return its entry names."""
    target.parent.mkdir(parents=True, exist_ok=True)
    names = []
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for relative in package_files(source):
            info = zipfile.ZipInfo(relative.as_posix(), date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, (source / relative).read_bytes())
            names.append(info.filename)
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=SOURCE)
    parser.add_argument("--output", type=Path, default=TARGET)
    args = parser.parse_args(argv)
    names = build(args.source, args.output)
    print(f"Wrote {args.output} ({len(names)} files).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
