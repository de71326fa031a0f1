"""Readers shared by the shipping tests: workflows, Dockerfiles, the release scripts.

Each check is a function that returns the problems it finds, so a test can run it on
the repository's file (no problem) and on a tampered copy (the problem is found).
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

from typing import Any

import yaml


REPO_ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO_ROOT / ".github" / "workflows"
SCRIPTS = REPO_ROOT / ".github" / "scripts"
VERSION_FILE = REPO_ROOT / "function_app" / "lvmbeat_monitor" / "VERSION"
SELFHOST = REPO_ROOT / "deploy" / "selfhost"

# The same names the Makefile's lint target finds with `find`.
PRUNED_DIRS = {".git", ".venv", "node_modules"}


def version() -> str:
    return VERSION_FILE.read_text().strip()


def load_workflow(name: str) -> dict[str, Any]:
    """A workflow as YAML. PyYAML reads the key `on` as True; put it back."""
    workflow = yaml.safe_load((WORKFLOWS / name).read_text())
    if True in workflow:
        workflow["on"] = workflow.pop(True)
    return workflow


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps", []))


def uses(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    """The steps of `job` that use `action` (owner/name, any version, any case)."""
    return [
        step
        for step in steps(job)
        if step.get("uses", "").split("@")[0].lower() == action.lower()
    ]


def run_lines(job: dict[str, Any]) -> list[str]:
    return [
        line.strip()
        for step in steps(job)
        for line in str(step.get("run", "")).splitlines()
        if line.strip()
    ]


def dockerfiles(root: Path = REPO_ROOT) -> list[Path]:
    """Every Dockerfile under `root`, by name, as `make lint` finds them."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in PRUNED_DIRS]
        for name in files:
            is_dockerfile = (
                name == "Dockerfile"
                or name.startswith("Dockerfile.")
                or name.endswith(".Dockerfile")
            )
            if is_dockerfile and not name.endswith(".dockerignore"):
                found.append(Path(folder) / name)
    return sorted(found)


FROM_LINE = re.compile(
    r"^FROM\s+(?:--platform=\S+\s+)?(?P<image>\S+)(?:\s+AS\s+(?P<stage>\S+))?",
    re.IGNORECASE | re.MULTILINE,
)


def base_images(dockerfile_text: str) -> Iterator[str]:
    """The images a Dockerfile builds FROM, leaving out its own earlier stages."""
    stages: set[str] = set()
    for match in FROM_LINE.finditer(dockerfile_text):
        image = match["image"]
        if image.lower() not in stages:
            yield image
        if match["stage"]:
            stages.add(match["stage"].lower())


def unpinned_images(images: list[str]) -> list[str]:
    """Images with no tag or digest, or on `latest`: builds that change alone."""
    problems = []
    for image in images:
        name = image.split("/")[-1]
        if "@sha256:" in image:
            continue
        if ":" not in name or name.endswith(":latest"):
            problems.append(image)
    return problems


def load_module(path: Path) -> ModuleType:
    """A script as a module, to call its functions directly."""
    name = f"_ship_{path.stem}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Registered first: dataclasses look their module up while it executes.
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_script(name: str) -> ModuleType:
    """A script of .github/scripts as a module."""
    return load_module(SCRIPTS / name)
