"""Every shell command the README and docs/ show, checked so the docs cannot go stale.

Each command in a ```console / ```bash / ```sh block is classified by its program:
- run here (quick, harmless) and must succeed: RUN_HERE;
- `make TARGET`: the target exists (`make -n`, nothing is run);
- `lvmbeat ...` synopses: every subcommand and option shown is in its `--help`;
- `lvmbeat send ACTOR COMMAND`: that actor (the lvmbeat actor or the simulated
  lvmecp) has that command;
- `curl URL`: the path is one of the monitor's routes;
- `python SCRIPT`: the script exists (run only when listed in RUN_HERE);
- everything else needs what this machine has not (Azure, Docker, Kubernetes, Core
  Tools) and is listed in NOT_HERE with the reason. A command of an unknown program
  fails the test until it is classified here.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from lvmbeat.actor import beat_parser
from lvmbeat.cli import lvmbeat as lvmbeat_cli
from lvmbeat.simulator import ecp_parser


REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SHELL_BLOCK = re.compile(r"```(console|bash|sh|shell)\n(.*?)```", re.S)

# Programs whose commands cannot run on this machine, and why.
NOT_HERE = {
    "az": "Azure CLI: needs an Azure subscription",
    "func": "Azure Functions Core Tools (tests/infra/test_func_start.py runs it where "
    "installed)",
    "docker": "needs a Docker daemon (tests/ship checks the images and compose file)",
    "kubectl": "needs a Kubernetes cluster",
    "npx": "starts Azurite in the foreground (tests start it via lvmbeat_local.dev)",
    "cd": "changes the directory for the commands after it",
    "source": "activates the Python 3.12 environment for func start",
    "python3.12": "makes the Python 3.12 environment for func start",
    "pip": "installs into the Python 3.12 environment for func start",
    "cp": "copies a template the reader then edits",
    "set": "exports .env for the Azure CLI container after it",
    "for": "a loop over Azure CLI commands",
    "done": "a loop over Azure CLI commands",
    "echo": "prints values read from Azure",
    "cat": "writes a file for the Azure CLI command after it",
    ".venv/bin/pytest": "the test suite itself (make test runs it)",
    "read": "reads a secret from the terminal for the Azure CLI command after it",
    "unset": "forgets that secret after the Azure CLI command",
}
# Commands run here as shown; they must exit 0.
RUN_HERE = ("mkdir -p .run/azurite",)
# Routes of the Functions host itself, not of our app.
HOST_ROUTES = ("/admin/",)


@dataclass(frozen=True)
class Shown:
    doc: str
    line: str

    def __str__(self) -> str:
        return f"{self.doc}: {self.line}"


def shown_commands() -> list[Shown]:
    found = []
    for doc in DOCS:
        for block in SHELL_BLOCK.finditer(doc.read_text()):
            text = block.group(2).replace("\\\n", " ")
            heredoc_end = None
            for raw in text.splitlines():
                line = raw.strip()
                if heredoc_end is not None:
                    heredoc_end = None if line == heredoc_end else heredoc_end
                    continue
                if not line or line.startswith("#"):
                    continue
                if match := re.search(r"<<\s*'?(\w+)'?", line):
                    heredoc_end = match.group(1)
                found.append(Shown(doc.relative_to(REPO).as_posix(), line))
    return found


def words_of(line: str) -> list[str]:
    words = shlex.split(line, comments=True)
    while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
        words = words[1:]  # VAR=value before the command
    return words


def program_of(words: list[str]) -> str:
    return words[0] if words else ""


COMMANDS = shown_commands()


def test_the_docs_show_commands():
    assert len(COMMANDS) > 30
    assert any(c.doc == "README.md" for c in COMMANDS)


@pytest.mark.parametrize("shown", COMMANDS, ids=str)
def test_each_command_the_docs_show_is_true_here(shown: Shown):
    words = words_of(shown.line)
    if not words:  # a comment-only or assignment-only line (RG=rg-lvmbeat)
        return
    program = program_of(words)
    if any(shown.line.startswith(prefix) for prefix in RUN_HERE):
        run_here(shown)
    elif program == "make":
        check_make_target(shown, words)
    elif program in ("lvmbeat", ".venv/bin/lvmbeat"):
        check_lvmbeat(shown, words)
    elif program == "curl":
        check_curl(shown, words)
    elif program in ("python3", ".venv/bin/python"):
        script = REPO / words[1]
        assert script.is_file(), f"{shown}: {words[1]} does not exist"
    elif program in NOT_HERE or "=$(" in shown.line:
        return  # see NOT_HERE for why
    else:
        pytest.fail(
            f"{shown}: the program {program!r} is not classified; add it to RUN_HERE "
            "or NOT_HERE (with the reason) in tests/docs/test_docs_commands.py."
        )


def run_here(shown: Shown) -> None:
    done = subprocess.run(
        ["bash", "-c", shown.line],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, f"{shown} failed:\n{done.stdout}{done.stderr}"


def check_make_target(shown: Shown, words: list[str]) -> None:
    for target in words[1:]:
        done = subprocess.run(
            ["make", "-n", "--no-print-directory", target],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert "No rule to make target" not in done.stderr, f"{shown}: {done.stderr}"


def cli_help(path: list[str]) -> str:
    result = CliRunner().invoke(lvmbeat_cli, [*path, "--help"])
    assert result.exit_code == 0, f"lvmbeat {' '.join(path)} --help: {result.output}"
    return result.output


def check_lvmbeat(shown: Shown, words: list[str]) -> None:
    args = words[1:]
    if args[:1] == ["send"]:
        check_send(shown, [a for a in args[1:] if not a.startswith("-")])
        return
    # A synopsis: subcommands first (a|b|c offers several), then options.
    root_options = []
    while args and args[0].startswith("[-"):
        root_options.append(args.pop(0))
        if args and not args[0].startswith(("-", "[")):
            args.pop(0)  # the option's value (CONFIG)
    path: list[str] = []
    for word in args:
        if word.startswith(("-", "[")) or word.isupper() or word == "|":
            break
        path.append(word)
    alternatives = [path]
    if path and "|" in path[-1]:
        alternatives = [[*path[:-1], name] for name in path[-1].split("|")]
    elif "|" in args:  # "stop | restart | status"
        names = [w for w in args[len(path) - 1 :] if w != "|"]
        alternatives = [
            [*path[:-1], name] for name in names if not name.startswith("[")
        ]
    for sub in alternatives:
        text = cli_help(sub)
        for option in re.findall(r"--[a-z][a-z-]*", " ".join(args)):
            assert option in text, f"{shown}: lvmbeat {' '.join(sub)} has no {option}"
    root = cli_help([])
    for option in re.findall(r"-{1,2}[a-z]+", " ".join(root_options)):
        assert option in root, f"{shown}: lvmbeat has no {option}"


PARSERS = {"lvmbeat": beat_parser, "lvmecp": ecp_parser}


def check_send(shown: Shown, words: list[str]) -> None:
    actor, command = words[0], words[1]
    if actor == "ACTOR":
        return  # the synopsis itself
    parser = PARSERS.get(actor)
    assert parser is not None, f"{shown}: no parser known for actor {actor!r}"
    assert command in parser.commands, (
        f"{shown}: {actor} has no command {command!r}; it has "
        f"{', '.join(sorted(parser.commands))}"
    )


def monitor_routes() -> set[str]:
    import function_app

    # azure-functions indexes an app once: forget our indexing before and after, so
    # other tests (and the host) index it afresh.
    function_app.app.functions_bindings = None
    routes = {"/"}
    try:
        for fn in function_app.app.get_functions():
            for binding in fn.get_bindings():
                route = getattr(binding, "route", None)
                if route:
                    routes.add("/" + route.split("{")[0].rstrip("/"))
    finally:
        function_app.app.functions_bindings = None
    return routes


def check_curl(shown: Shown, words: list[str]) -> None:
    urls = [w for w in words if "://" in w or w.startswith("<")]
    assert urls, f"{shown}: no URL"
    url = urls[0]
    path = re.sub(r"^(\w+://[^/]+|<[^>]+>)", "", url).split("?")[0]
    if not path or path.startswith(HOST_ROUTES):
        return  # a whole status URL (<statusUrl>), or the host's own API
    routes = monitor_routes()
    assert any(path == r or path.startswith(r + "/") for r in routes if r != "/") or (
        path == "/"
    ), f"{shown}: {path} is not a route of the monitor ({', '.join(sorted(routes))})"


@pytest.mark.parametrize(
    "line",
    [
        "lvmbeat simulate ecp [--name lvmecp] [--no-such-option]",
        "lvmbeat send lvmecp close",
        "lvmbeat status",
        "curl http://127.0.0.1:7071/no-such-route",
        "make no-such-target",
        "frobnicate --all",
    ],
)
def test_a_stale_command_in_the_docs_fails(line):
    """The checks above can fail: each of these is wrong in a way docs once were."""
    with pytest.raises((AssertionError, pytest.fail.Exception)):
        test_each_command_the_docs_show_is_true_here(Shown("docs/x.md", line))
