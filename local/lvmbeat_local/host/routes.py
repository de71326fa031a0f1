"""Route templates as this app writes them: literal segments and `{name}` parameters.

Azure routes follow ASP.NET: case-insensitive, one trailing slash ignored, literal
routes win over parameterised ones. The monitor needs literal routes and one
parameter (`notify/{kind}`); anything else (constraints, optional or catch-all
parameters) is refused at start, naming the function, rather than served differently
from Azure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from lvmbeat_local.host.errors import RouteError
from lvmbeat_local.host.loader import HttpFunction


_PARAMETER = re.compile(r"^\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)\}$")
_LITERAL = re.compile(r"^[^{}]*$")


@dataclass(frozen=True)
class Route:
    """One function's compiled route."""

    function: HttpFunction
    path_template: str
    pattern: re.Pattern[str]
    parameters: int

    def allows(self, method: str) -> bool:
        methods = self.function.methods
        return methods is None or method.upper() in methods


def compile_template(template: str, *, what: str) -> tuple[re.Pattern[str], int]:
    """Regex for a template such as `notify/{kind}`; the count of parameters."""
    pieces: list[str] = []
    count = 0
    for segment in template.split("/") if template else []:
        parameter = _PARAMETER.match(segment)
        if parameter:
            pieces.append(rf"(?P<{parameter['name']}>[^/]+)")
            count += 1
        elif _LITERAL.match(segment):
            pieces.append(re.escape(segment))
        else:
            raise RouteError(
                f"{what}: route template {template!r} has segment {segment!r}; the "
                "local host serves literal segments and plain {name} parameters only "
                "(no constraints, optional or catch-all parameters)."
            )
    try:
        return re.compile("/" + "/".join(pieces), re.IGNORECASE), count
    except re.error as error:  # a parameter name used twice
        raise RouteError(
            f"{what}: route template {template!r} gives a bad pattern ({error})."
        ) from error


class RouteTable:
    """Every HTTP function of the app at its path under the route prefix."""

    def __init__(self, functions: Iterable[HttpFunction], route_prefix: str) -> None:
        self.routes: list[Route] = []
        for function in functions:
            template = "/".join(p for p in (route_prefix, function.route) if p)
            pattern, count = compile_template(
                template, what=f"Function {function.name}"
            )
            self.routes.append(Route(function, f"/{template}", pattern, count))
        # ASP.NET precedence: the more literal route wins.
        self.routes.sort(key=lambda route: route.parameters)

    def match(self, path: str) -> list[tuple[Route, dict[str, str]]]:
        """Routes whose template matches `path`, most specific first, with params."""
        if len(path) > 1 and path.endswith("/"):
            path = path[:-1]
        found = []
        for route in self.routes:
            matched = route.pattern.fullmatch(path)
            if matched:
                found.append((route, matched.groupdict()))
        return found
