"""Azure route templates (`notify/{kind}`, `{id:int}`, `{name?}`, `{*rest}`) as regexes.

Azure routes follow ASP.NET: case-insensitive, one trailing slash ignored, literal
routes win over parameterised ones. Only the template syntax is handled here; HTTP
itself is aiohttp's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from lvmbeat.functions_host.errors import RouteError
from lvmbeat.functions_host.loader import HttpFunction


_PARAMETER = re.compile(
    r"\{(?P<catch_all>\*{1,2})?(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"(?P<constraints>(?::[^{}?]+?)*)(?P<optional>\?)?\}"
)

# The ASP.NET constraints worth recognising; anything else is refused at start.
_CONSTRAINTS = {
    "int": r"-?\d+",
    "long": r"-?\d+",
    "bool": r"(?:[Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee])",
    "alpha": r"[A-Za-z]+",
    "guid": r"[0-9A-Fa-f]{8}-?(?:[0-9A-Fa-f]{4}-?){3}[0-9A-Fa-f]{12}",
    "double": r"-?\d+(?:\.\d+)?",
    "float": r"-?\d+(?:\.\d+)?",
    "decimal": r"-?\d+(?:\.\d+)?",
    "datetime": r"[^/]+",
}


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
    """Regex for a template such as `api/notify/{kind}`; the count of parameters."""
    pieces: list[str] = []
    position = 0
    count = 0
    for match in _PARAMETER.finditer(template):
        literal = _literal(template[position : match.start()], template, what=what)
        group, swallows_slash = _parameter_regex(match, template, what=what)
        if swallows_slash:
            # `items/{id?}` also serves `/items`: the slash belongs to the option.
            literal = literal.removesuffix("/")
        pieces += [re.escape(literal), group]
        position = match.end()
        count += 1
    pieces.append(re.escape(_literal(template[position:], template, what=what)))
    try:
        return re.compile("/" + "".join(pieces), re.IGNORECASE), count
    except re.error as error:
        raise RouteError(
            f"{what}: route template {template!r} gives a bad pattern ({error})."
        ) from error


def _literal(text: str, template: str, *, what: str) -> str:
    if "{" in text or "}" in text:
        raise RouteError(f"{what}: cannot read route template {template!r}.")
    return text


def _parameter_regex(
    match: re.Match[str], template: str, *, what: str
) -> tuple[str, bool]:
    """The group for one parameter, and whether it takes its leading slash along."""
    name = match["name"]
    last = match.end() == len(template)
    after_slash = _after_slash(match, template)
    if match["catch_all"]:
        if not last:
            raise RouteError(
                f"{what}: catch-all {{*{name}}} must end the route {template!r}."
            )
        if after_slash:
            return rf"(?:/(?P<{name}>.*))?", True
        return rf"(?P<{name}>.*)", False
    body = r"[^/]+"
    for constraint in filter(None, match["constraints"].split(":")):
        key = constraint.split("(", 1)[0].lower()
        if key not in _CONSTRAINTS:
            raise RouteError(
                f"{what}: route constraint {constraint!r} in {template!r} is not "
                f"supported by the local host (known: {', '.join(_CONSTRAINTS)})."
            )
        body = _CONSTRAINTS[key]
    group = rf"(?P<{name}>{body})"
    if not match["optional"]:
        return group, False
    if last and match.start() == 0:
        # `{page?}` alone, under routePrefix "": the site root or one segment (the
        # path's leading slash is already in the pattern).
        return rf"(?:{group})?", False
    if not (last and after_slash):
        raise RouteError(
            f"{what}: optional {{{name}?}} must be the last segment of {template!r}."
        )
    return rf"(?:/{group})?", True


def _after_slash(match: re.Match[str], template: str) -> bool:
    return match.start() > 0 and template[match.start() - 1] == "/"


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
                params = {k: v for k, v in matched.groupdict().items() if v is not None}
                found.append((route, params))
        return found
