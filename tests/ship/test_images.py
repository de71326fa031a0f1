"""The Dockerfiles: linted, pinned, on the right base, sending the right files.

No Docker engine runs here, so no image is built in this suite. hadolint (in
`make lint` and below) reads every Dockerfile; these tests check what a build would
depend on.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from ship_support import (
    REPO_ROOT,
    base_images,
    dockerfiles,
    load_module,
    unpinned_images,
)


HADOLINT = REPO_ROOT / ".venv" / "bin" / "hadolint"
MONITOR_DOCKERFILE = REPO_ROOT / "function_app" / "Dockerfile"
FUNCTIONS_BASE = re.compile(
    r"^mcr\.microsoft\.com/azure-functions/python:4-python(?P<python>\d+\.\d+)$"
)


def hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(HADOLINT), "--failure-threshold", "warning", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_repository_has_the_actor_and_the_monitor_dockerfiles():
    found = {path.relative_to(REPO_ROOT).as_posix() for path in dockerfiles()}
    assert {"actor/Dockerfile", "function_app/Dockerfile"} <= found


def test_every_dockerfile_passes_hadolint():
    for path in dockerfiles():
        result = hadolint(path)
        assert result.returncode == 0, f"{path}:\n{result.stdout}{result.stderr}"


def test_hadolint_fails_a_dockerfile_on_an_untagged_base(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN pip install requests\n")
    result = hadolint(bad)
    assert result.returncode != 0
    assert "DL3006" in result.stdout  # "Always tag the version of an image explicitly"


def test_every_dockerfile_pins_its_base_images_to_a_tag():
    for path in dockerfiles():
        images = list(base_images(path.read_text()))
        assert images, f"{path} has no FROM"
        assert unpinned_images(images) == [], path


def test_an_untagged_or_latest_base_counts_as_unpinned():
    text = "FROM python AS build\nFROM build\nFROM ghcr.io/x/y:latest\nFROM a/b:1.2\n"
    assert unpinned_images(list(base_images(text))) == ["python", "ghcr.io/x/y:latest"]


def bicep_python_version() -> str:
    reader = load_module(REPO_ROOT / "tests" / "infra" / "bicep_reader.py")
    _, _, site = reader.Deployment.load().function_app()
    runtime = site["properties"]["functionAppConfig"]["runtime"]
    assert runtime["name"] == "python"
    return runtime["version"]


def test_the_monitor_image_is_microsofts_functions_host_on_azures_python():
    (image,) = base_images(MONITOR_DOCKERFILE.read_text())
    match = FUNCTIONS_BASE.match(image)
    assert match, f"{image} is not Microsoft's Azure Functions Python image"
    assert match["python"] == bicep_python_version()


def test_the_monitor_image_installs_the_pinned_requirements_and_the_app():
    text = MONITOR_DOCKERFILE.read_text()
    assert "COPY requirements.txt /requirements.txt" in text
    assert "pip install --no-cache-dir -r /requirements.txt" in text
    assert re.search(r"^COPY \. /home/site/wwwroot$", text, re.MULTILINE)
    assert "AzureWebJobsScriptRoot=/home/site/wwwroot" in text


def dockerignore_allowlist(path: Path) -> set[str]:
    """The top-level names a `*`-then-`!name` ignore file lets into the context."""
    lines = [line.strip() for line in path.read_text().splitlines()]
    rules = [line for line in lines if line and not line.startswith("#")]
    assert rules[0] == "*", f"{path} must start by ignoring everything"
    return {rule[1:].strip("/") for rule in rules if rule.startswith("!")}


def test_the_monitor_image_gets_exactly_what_make_package_deploys():
    package = load_module(REPO_ROOT / "scripts" / "package_function_app.py")
    deployed = {path.parts[0] for path in package.package_files()}
    ignore = MONITOR_DOCKERFILE.with_name("Dockerfile.dockerignore")
    assert dockerignore_allowlist(ignore) == deployed
    rules = ignore.read_text()
    assert "**/__pycache__" in rules and "**/*.pyc" in rules
