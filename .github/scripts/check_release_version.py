#!/usr/bin/env python3
"""Check a release against the version's one home, and print that version.

    check_release_version.py [TAG]

The version lives in function_app/lvmbeat_monitor/VERSION (the monitor's `/version`,
the actor's metadata and the images all report it). A release tag must be `v` plus that
version, and CHANGELOG.md's newest released entry must be that version, so a tag
cannot ship code that reports another version or has no changelog entry. Without TAG
(a deployment started by hand from a branch) VERSION must still agree with
CHANGELOG.md (a pre-release under "## Next version" is fine).

Exit status 1 names what disagrees and what to change. The Docker and deploy workflows
run this; tests/ship/ runs it too, so the rule is the same everywhere.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path


REPO_ROOT = Path(__file__).resolve().parents[2]
VERSION_FILE = REPO_ROOT / "function_app" / "lvmbeat_monitor" / "VERSION"
CHANGELOG = REPO_ROOT / "CHANGELOG.md"

RELEASE = re.compile(r"^\d+\.\d+\.\d+$")
# SDSS changelog headings: "## 1.1.0 - December 3, 2026"; changes merged since the
# last release sit under "## Next version" above it.
RELEASED_HEADING = re.compile(
    r"^## (?P<version>\d+\.\d+\.\d+) - (?P<date>[A-Z][a-z]+ \d{1,2}, \d{4})\s*$"
)
NEXT_HEADING = "## Next version"


class ReleaseError(Exception):
    """The tag, VERSION and CHANGELOG.md disagree; the message says how."""


def read_version(version_file: Path = VERSION_FILE) -> str:
    return version_file.read_text().strip()


def released_versions(changelog_text: str) -> list[str]:
    """The versions of CHANGELOG.md's released entries, newest (topmost) first."""
    return [
        match["version"]
        for line in changelog_text.splitlines()
        if (match := RELEASED_HEADING.match(line))
    ]


def check_changelog(version: str, changelog_text: str) -> None:
    """Raise ReleaseError unless CHANGELOG.md describes `version` (SDSS convention).

    A release X.Y.Z must be the newest released entry; a pre-release (X.Y.ZaN,
    X.Y.Z.devN, ...) needs a "Next version" section on top, above older releases.
    """
    released = released_versions(changelog_text)
    newest = released[0] if released else "none"
    if RELEASE.match(version):
        if newest != version:
            raise ReleaseError(
                f"CHANGELOG.md's newest released entry is {newest!r}, not VERSION "
                f"{version!r}: add '## {version} - <Month D, YYYY>' (rename "
                f"'{NEXT_HEADING}') or set VERSION to the release it describes."
            )
        return
    headings = [line for line in changelog_text.splitlines() if line.startswith("## ")]
    if not headings or headings[0].strip() != NEXT_HEADING:
        raise ReleaseError(
            f"VERSION {version!r} is a pre-release, so CHANGELOG.md must start with a "
            f"'{NEXT_HEADING}' section for it."
        )
    base = re.match(r"\d+\.\d+\.\d+", version)
    if base is None or (released and _key(base[0]) <= _key(released[0])):
        raise ReleaseError(
            f"VERSION {version!r} is not newer than the released {newest!r}."
        )


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def check_release(
    tag: str | None,
    version: str,
    changelog_text: str,
) -> None:
    """Raise ReleaseError unless `tag` (when given) releases `version` with an entry."""
    if tag is None:
        check_changelog(version, changelog_text)
        return
    if tag != f"v{version}":
        raise ReleaseError(
            f"Tag {tag!r} does not match VERSION {version!r}: tag v{version}, or set "
            f"function_app/lvmbeat_monitor/VERSION to {tag.removeprefix('v')!r} "
            "and tag that commit."
        )
    if not RELEASE.match(version):
        raise ReleaseError(
            f"VERSION {version!r} is not a release (X.Y.Z); pre-releases are not "
            "tagged."
        )
    check_changelog(version, changelog_text)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) > 1:
        print("usage: check_release_version.py [TAG]", file=sys.stderr)
        return 2
    tag = args[0] if args and args[0] else None
    version = read_version()
    try:
        check_release(tag, version, CHANGELOG.read_text())
    except ReleaseError as error:
        print(f"Release check failed: {error}", file=sys.stderr)
        return 1
    print(version)
    return 0


if __name__ == "__main__":
    sys.exit(main())
