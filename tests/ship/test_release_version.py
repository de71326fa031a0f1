"""One version, reported the same way by the monitor, the actor, the changelog and a
release tag.

Convention (SDSS, as in sdss/lvmecp and sdss/clu): CHANGELOG.md's entries are
`## X.Y.Z - Month D, YYYY`, newest first; changes merged since the last release sit
under `## Next version` on top. The newest dated entry must equal
function_app/lvmbeat_monitor/VERSION; a pre-release VERSION needs the "Next version"
section. A release tag must be `v` + VERSION.
"""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata

import pytest
from ship_support import REPO_ROOT, SCRIPTS, load_script, version

from lvmbeat import __version__ as actor_version
from lvmbeat_monitor import __version__ as monitor_version


release = load_script("check_release_version.py")
CHANGELOG = (REPO_ROOT / "CHANGELOG.md").read_text()


def run_check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPTS / "check_release_version.py"), *args],
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_the_changelog_describes_the_version_in_version():
    release.check_changelog(version(), CHANGELOG)


def test_the_monitor_and_the_actor_report_the_version_file():
    # The actor reads its version from the installed distribution, which takes it
    # from VERSION when installed (make install reinstalls when VERSION changes).
    assert monitor_version == version()
    assert actor_version == metadata.version("lvmbeat") == version()


def test_a_version_the_changelog_does_not_describe_is_refused():
    with pytest.raises(release.ReleaseError, match="newest released entry"):
        release.check_changelog("9.9.9", CHANGELOG)


WITH_NEXT = "# Changelog\n\n## Next version\n\n## 1.1.0 - May 1, 2026\n"
WITHOUT_NEXT = "# Changelog\n\n## 1.1.0 - May 1, 2026\n"


@pytest.mark.parametrize(
    ("pre_release", "changelog", "accepted"),
    [
        ("1.2.0a1", WITH_NEXT, True),
        ("1.2.0a1", WITHOUT_NEXT, False),
        ("1.1.0a1", WITH_NEXT, False),  # not newer than the release below it
    ],
)
def test_a_pre_release_needs_a_next_version_section_above_older_releases(
    pre_release, changelog, accepted
):
    if accepted:
        release.check_changelog(pre_release, changelog)
    else:
        with pytest.raises(release.ReleaseError):
            release.check_changelog(pre_release, changelog)


def test_the_release_tag_of_this_version_passes_and_prints_it():
    result = run_check(f"v{version()}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == version()


def test_a_tag_that_is_not_v_plus_version_is_refused_naming_both():
    result = run_check("v0.0.1")
    assert result.returncode == 1
    assert "'v0.0.1'" in result.stderr and f"'{version()}'" in result.stderr


def test_a_tag_without_its_changelog_entry_is_refused():
    changelog = CHANGELOG.replace(f"## {version()} - ", "## 0.0.0 - ")
    with pytest.raises(release.ReleaseError, match="CHANGELOG.md"):
        release.check_release(f"v{version()}", version(), changelog)
