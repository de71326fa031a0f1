"""Find the function app, import it as Azure does and read what it declares.

Azure imports the module `function_app` from the app's folder and indexes
`app.get_functions()`. The host does the same and keeps, for each function, only what
serving it needs. A trigger or binding the host cannot provide stops it at start with
the function's name, rather than leaving a route silently missing.
"""

from __future__ import annotations

import importlib
import inspect
import json
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from typing import Any

import azure.functions as func

from lvmbeat_local.host.errors import AppLoadError
from lvmbeat_local.repository import RepositoryNotFound, find_repository


log = logging.getLogger("lvmbeat_local.host")

APP_MODULE = "function_app"
APP_ATTRIBUTE = "app"
APP_DIR_ENV = "LVMBEAT_FUNCTION_APP_DIR"
HOST_FILE = "host.json"
DEFAULT_ROUTE_PREFIX = "api"  # Azure's default when host.json does not set one

HTTP_TRIGGER = "httpTrigger"
HTTP_OUTPUT = "http"
TIMER_TRIGGER = "timerTrigger"


class AuthLevel(StrEnum):
    """The levels the monitor uses. `admin` needs Azure's master key, which a self-
    hosted monitor has no use for: an app that declares it is refused at start."""

    ANONYMOUS = "anonymous"
    FUNCTION = "function"


@dataclass(frozen=True)
class HttpFunction:
    """An HTTP trigger: where it listens and who may call it."""

    name: str
    route: str
    methods: frozenset[str] | None  # None: every method, as Azure does
    auth_level: AuthLevel
    handler: Callable[..., Any]
    arg_name: str


@dataclass(frozen=True)
class TimerFunction:
    """A timer trigger, with its schedule as declared (maybe `%SETTING%`)."""

    name: str
    schedule: str
    run_on_startup: bool
    handler: Callable[..., Any]
    arg_name: str


@dataclass(frozen=True)
class LoadedApp:
    app_dir: Path
    route_prefix: str
    http_functions: list[HttpFunction]
    timer_functions: list[TimerFunction]


def find_app_dir(explicit: Path | str | None = None) -> Path:
    """The folder holding function_app.py: --app-dir, $LVMBEAT_FUNCTION_APP_DIR, or the
    repository's function_app/."""
    candidates: list[tuple[Path, str]] = []
    if explicit:
        candidates.append((Path(explicit), "--app-dir"))
    elif os.environ.get(APP_DIR_ENV):
        candidates.append((Path(os.environ[APP_DIR_ENV]), f"${APP_DIR_ENV}"))
    else:
        candidates.extend((path, "default") for path in _default_app_dirs())
    for path, source in candidates:
        if (path / f"{APP_MODULE}.py").is_file():
            return path.resolve()
        if source != "default":
            raise AppLoadError(
                f"{path} ({source}) has no {APP_MODULE}.py; point it at the function "
                "app's folder (the one with host.json)."
            )
    searched = ", ".join(str(path) for path, _ in candidates) or "no repository found"
    raise AppLoadError(
        f"No {APP_MODULE}.py found (looked in: {searched}); "
        f"pass --app-dir or set {APP_DIR_ENV}."
    )


def _default_app_dirs() -> list[Path]:
    """The repository's function_app/, the repository found by its markers from this
    package (an editable install) or from the current folder."""
    try:
        return [find_repository() / "function_app"]
    except RepositoryNotFound:
        return []  # find_app_dir says what to pass instead


def read_route_prefix(app_dir: Path) -> str:
    """`extensions.http.routePrefix` from host.json ("api" when unset, as in Azure)."""
    path = app_dir / HOST_FILE
    if not path.exists():
        return DEFAULT_ROUTE_PREFIX
    try:
        document = json.loads(path.read_text(encoding="utf-8-sig"))
        prefix = document.get("extensions", {}).get("http", {}).get("routePrefix")
    except (OSError, ValueError, AttributeError) as error:
        raise AppLoadError(f"{path} cannot be read as host.json ({error}).") from error
    if prefix is None:
        return DEFAULT_ROUTE_PREFIX
    if not isinstance(prefix, str):
        raise AppLoadError(f"{path}: extensions.http.routePrefix must be a string.")
    return prefix.strip("/")


def import_app(app_dir: Path) -> func.FunctionApp:
    """Import `function_app` from app_dir (first on sys.path) and return its `app`."""
    if str(app_dir) not in sys.path:
        sys.path.insert(0, str(app_dir))
    loaded = sys.modules.get(APP_MODULE)
    if loaded is not None and _module_dir(loaded) != app_dir:
        raise AppLoadError(
            f"A different {APP_MODULE} ({getattr(loaded, '__file__', '?')}) is "
            f"already imported in this process; cannot also serve {app_dir}."
        )
    try:
        module = importlib.import_module(APP_MODULE)
    except Exception as error:  # the app's own import error, reported with its cause
        log.error("Importing the function app failed:", exc_info=error)
        raise AppLoadError(
            f"Importing {app_dir / (APP_MODULE + '.py')} failed: "
            f"{type(error).__name__}: {error}"
        ) from error
    if _module_dir(module) != app_dir:
        raise AppLoadError(
            f"`import {APP_MODULE}` found {module.__file__}, not the one in {app_dir}."
        )
    app = getattr(module, APP_ATTRIBUTE, None)
    if not isinstance(app, func.FunctionApp):
        raise AppLoadError(
            f"{module.__file__} defines no `{APP_ATTRIBUTE} = func.FunctionApp(...)`."
        )
    return app


def _module_dir(module: Any) -> Path | None:
    file = getattr(module, "__file__", None)
    return Path(file).resolve().parent if file else None


def describe(app: func.FunctionApp, app_dir: Path) -> LoadedApp:
    """What the host serves: every function of `app.get_functions()`."""
    http_functions: list[HttpFunction] = []
    timer_functions: list[TimerFunction] = []
    for function in app.get_functions():
        name = function.get_function_name() or "?"
        bindings = [_plain(b.get_dict_repr()) for b in function.get_bindings()]
        trigger = next((b for b in bindings if b["type"].endswith("Trigger")), None)
        if trigger is None:
            raise AppLoadError(f"Function {name} has no trigger.")
        unsupported = [
            b["type"]
            for b in bindings
            if b is not trigger
            and not (b["type"] == HTTP_OUTPUT and trigger["type"] == HTTP_TRIGGER)
        ]
        if unsupported:
            raise AppLoadError(
                f"Function {name} declares binding(s) {', '.join(unsupported)}, which "
                "the local host does not provide (only HTTP and timer triggers)."
            )
        handler = function.get_user_function()
        _check_parameters(name, handler, trigger["name"])
        if trigger["type"] == HTTP_TRIGGER:
            http_functions.append(_http_function(name, trigger, handler))
        elif trigger["type"] == TIMER_TRIGGER:
            timer_functions.append(
                TimerFunction(
                    name=name,
                    schedule=str(trigger["schedule"]),
                    run_on_startup=bool(trigger.get("runOnStartup", False)),
                    handler=handler,
                    arg_name=trigger["name"],
                )
            )
        else:
            raise AppLoadError(
                f"Function {name} has a {trigger['type']}; the local host serves "
                "httpTrigger and timerTrigger only."
            )
    prefix = read_route_prefix(app_dir)
    return LoadedApp(app_dir, prefix, http_functions, timer_functions)


def _http_function(
    name: str, trigger: dict[str, Any], handler: Callable[..., Any]
) -> HttpFunction:
    methods = trigger.get("methods")
    level = str(trigger.get("authLevel") or AuthLevel.FUNCTION).lower()
    try:
        auth_level = AuthLevel(level)
    except ValueError:
        raise AppLoadError(
            f"Function {name} has authLevel {level!r}; the local host serves "
            f"{' and '.join(AuthLevel)} functions only."
        ) from None
    return HttpFunction(
        name=name,
        route=str(trigger.get("route") or name).strip("/"),
        methods=frozenset(m.upper() for m in methods) if methods else None,
        auth_level=auth_level,
        handler=handler,
        arg_name=trigger["name"],
    )


def _check_parameters(name: str, handler: Callable[..., Any], arg_name: str) -> None:
    """Fail at start, not at the first call, when the function is not a coroutine
    function or wants more than its trigger (Azure would bind `context` or other
    bindings the host does not have)."""
    if not inspect.iscoroutinefunction(handler):
        raise AppLoadError(
            f"Function {name} is a plain `def`; the local host runs `async def` "
            "functions on its event loop, as the monitor's are (a blocking call there "
            "would stall every route)."
        )
    signature = inspect.signature(handler)
    if arg_name not in signature.parameters:
        raise AppLoadError(
            f"Function {name} has no parameter {arg_name!r} for its trigger."
        )
    extra = [
        p.name
        for p in signature.parameters.values()
        if p.name != arg_name
        and p.default is inspect.Parameter.empty
        and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    if extra:
        raise AppLoadError(
            f"Function {name} needs parameter(s) {', '.join(extra)}, which the local "
            f"host cannot bind; it passes only the trigger ({arg_name})."
        )


def _plain(value: Any) -> Any:
    """Binding dicts hold enums (HttpMethod, AuthLevel): turn them into their values."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return getattr(value, "value", value)


def load_app(app_dir: Path) -> LoadedApp:
    return describe(import_app(app_dir), app_dir)
