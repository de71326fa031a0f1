"""Infra test fixtures: the parsed deployment, and copies of infra/ to tamper with."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from bicep_reader import INFRA_DIR, Deployment


@pytest.fixture(scope="session")
def deployment() -> Deployment:
    """main.bicep and its modules, parsed once for the session."""
    return Deployment.load()


@pytest.fixture
def infra_copy(tmp_path: Path) -> Path:
    """A private copy of infra/ that a test may edit to show a check trips."""
    copy = tmp_path / "infra"
    shutil.copytree(INFRA_DIR, copy)
    return copy
