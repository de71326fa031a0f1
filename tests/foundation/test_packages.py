"""One house, three rooms: the actor's package holds the actor and nothing else.

The actor runs at LCO from an image that must carry neither the monitor (Azure SDKs)
nor the local tools (aiohttp, aiosmtpd, croniter). These tests read what a user would
get: the modules a running actor loads, the installed distribution's requirements, the
files the actor's Dockerfile sends, and what `lvmbeat monitor serve` says when the
local tools are not installed.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from lvmbeat_local.repository import RepositoryNotFound, find_repository


REPO_ROOT = Path(__file__).resolve().parents[2]
ACTOR_PACKAGE = REPO_ROOT / "actor" / "lvmbeat"
ACTOR_DOCKERFILE = REPO_ROOT / "actor" / "Dockerfile"
# Top-level modules the actor must never load: the other two packages and what only
# they need.
NOT_THE_ACTOR = ("lvmbeat_monitor", "lvmbeat_local", "azure", "aiohttp", "croniter")
NOT_THE_ACTOR_DISTRIBUTIONS = re.compile(r"^(azure-|aiohttp$|aiosmtpd$|croniter$)")
# The one place the actor's CLI reaches the local tools, at run time only.
CLI_SEAM = ACTOR_PACKAGE / "cli" / "monitor.py"


def _imports(path: Path) -> list[tuple[str, int]]:
    """Modules a file imports, by statement or by `import_module`/`load_local`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.module, node.lineno))
        elif isinstance(node, ast.Call) and node.args:
            name = getattr(node.func, "attr", getattr(node.func, "id", ""))
            first = node.args[0]
            if name in ("import_module", "load_local") and isinstance(
                first, ast.Constant
            ):
                found.append((str(first.value), node.lineno))
    return found


def test_no_actor_module_imports_the_monitor_or_the_local_tools():
    offending = []
    for path in sorted(ACTOR_PACKAGE.rglob("*.py")):
        for module, line in _imports(path):
            if module.split(".")[0] in NOT_THE_ACTOR and path != CLI_SEAM:
                offending.append(f"{path.relative_to(REPO_ROOT)}:{line} {module}")
    assert offending == []


def test_the_cli_reaches_the_local_host_only_through_its_one_seam():
    seam = [module for module, _ in _imports(CLI_SEAM)]
    assert [m for m in seam if m.split(".")[0] in NOT_THE_ACTOR] == [
        "lvmbeat_local.host.server"
    ]
    tree = ast.parse(CLI_SEAM.read_text())
    top_level = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    assert all(
        (getattr(n, "module", None) or n.names[0].name).split(".")[0]
        not in NOT_THE_ACTOR
        for n in top_level
    )


def test_loading_every_actor_module_loads_nothing_of_the_monitor_or_local_tools():
    script = (
        "import json, pkgutil, sys, lvmbeat\n"
        "for info in pkgutil.walk_packages(lvmbeat.__path__, 'lvmbeat.'):\n"
        "    __import__(info.name)\n"
        f"roots = {NOT_THE_ACTOR!r}\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & set(roots))))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert json.loads(loaded.stdout) == []


def _requirements(extra: str | None) -> list[Requirement]:
    """The installed distribution's requirements for a plain install or one extra."""
    wanted = []
    for line in metadata.requires("lvmbeat") or []:
        requirement = Requirement(line)
        marker = requirement.marker
        if extra is None and marker is None:
            wanted.append(requirement)
        elif extra is not None and marker is not None:
            if marker.evaluate({"extra": extra}) and not marker.evaluate({"extra": ""}):
                wanted.append(requirement)
    return wanted


def test_a_plain_install_requires_no_azure_sdk_nor_local_tool():
    plain = [r.name for r in _requirements(None)]
    assert "sdss-clu" in plain
    assert [n for n in plain if NOT_THE_ACTOR_DISTRIBUTIONS.match(n)] == []


def test_the_extras_add_the_monitor_the_local_tools_and_the_test_kit():
    monitor = {r.name for r in _requirements("monitor")}
    assert {"azure-functions", "azure-data-tables", "azure-identity"} <= monitor
    local = _requirements("local")
    assert "aiosmtpd" in {r.name for r in local}
    assert any(r.name == "lvmbeat" and "monitor" in r.extras for r in local)
    test = _requirements("test")
    assert any(r.name == "lvmbeat" and {"monitor", "local"} <= r.extras for r in test)


def test_the_monitor_extra_is_what_azure_installs_from_requirements_txt():
    """pyproject is where dependencies are declared; requirements.txt pins what the
    Functions host installs. A monitor dependency missing there fails only in Azure."""
    pins = {}
    for line in (REPO_ROOT / "function_app" / "requirements.txt").read_text().split(
        "\n"
    ):
        line = line.split("#")[0].strip()
        if line:
            pinned = Requirement(line)
            pins[pinned.name] = next(iter(pinned.specifier)).version
    for requirement in _requirements("monitor"):
        assert requirement.name in pins, f"{requirement} is not in requirements.txt"
        assert requirement.specifier.contains(pins[requirement.name]), (
            f"requirements.txt pins {requirement.name}=={pins[requirement.name]}, "
            f"outside pyproject's {requirement}"
        )


def _copied_sources(dockerfile: str) -> list[str]:
    """The build-context paths each `COPY` (not `COPY --from`) sends into the image."""
    sources = []
    for line in dockerfile.splitlines():
        words = line.split()
        if not words or words[0].upper() != "COPY":
            continue
        arguments = [w for w in words[1:] if not w.startswith("--")]
        if any(w.startswith("--from") for w in words[1:]):
            continue
        sources += arguments[:-1]
    return sources


def test_the_actor_image_copies_no_monitor_code_and_no_local_tools():
    text = ACTOR_DOCKERFILE.read_text()
    sources = _copied_sources(text)
    assert "actor" in sources
    monitor_files = [s for s in sources if s.startswith("function_app")]
    assert monitor_files == ["function_app/lvmbeat_monitor/VERSION"]
    assert not [s for s in sources if s.startswith("local")]
    ignore = (ACTOR_DOCKERFILE.parent / "Dockerfile.dockerignore").read_text()
    allowed = {line[1:] for line in ignore.splitlines() if line.startswith("!")}
    assert {a for a in allowed if a.startswith("function_app")} == {
        "function_app/lvmbeat_monitor/VERSION"
    }
    assert text.splitlines()[0].startswith("# ghcr.io/sdss/lvmbeat:")


def test_the_copy_reader_sees_a_dockerfile_that_copies_the_monitor():
    tampered = "FROM python:3.13-slim\nCOPY function_app/lvmbeat_monitor ./m\n"
    assert _copied_sources(tampered) == ["function_app/lvmbeat_monitor"]
    assert _copied_sources("COPY --from=build /opt/x /opt/x\n") == []


def test_monitor_serve_names_the_extra_to_install_when_the_local_tools_are_missing():
    """An actor-only install (as in the image): the local tools cannot be imported."""
    script = (
        "import sys\n"
        "MISSING = ('lvmbeat_local', 'azure', 'aiohttp')\n"
        "class Missing:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in MISSING:\n"
        "            raise ModuleNotFoundError(name, name=name)\n"
        "sys.meta_path.insert(0, Missing())\n"
        "sys.argv = ['lvmbeat', 'monitor', 'serve']\n"
        "from lvmbeat.cli import main\n"
        "main()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "pip install 'lvmbeat[local]'" in result.stderr
    assert "lvmbeat_local is missing" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_repository_is_found_by_its_markers_from_any_folder_inside(tmp_path):
    repository = tmp_path / "checkout"
    (repository / "function_app").mkdir(parents=True)
    (repository / "pyproject.toml").write_text("")
    deep = repository / "local" / "lvmbeat_local" / "host"
    deep.mkdir(parents=True)
    assert find_repository(deep) == repository.resolve()
    assert find_repository(Path(__file__)) == REPO_ROOT


def test_a_folder_outside_any_repository_is_named_in_the_error(tmp_path):
    (tmp_path / "pyproject.toml").write_text("")  # one marker is not enough
    with pytest.raises(RepositoryNotFound, match=re.escape(str(tmp_path))) as error:
        find_repository(tmp_path)
    assert "pyproject.toml and function_app/" in str(error.value)
