"""Which template expressions must be known when a deployment starts, and are they.

Bicep evaluates a loop's source, and the condition that decides whether a resource or a
module exists, before anything is deployed. A loop over a value that only exists once a
resource does (a storage endpoint, a connection string, a module output) does not
compile: error BCP178 (Bicep "Loop limits",
https://learn.microsoft.com/azure/azure-resource-manager/bicep/loops#loop-limits);
for conditions it is BCP177. Inside a module, a parameter counts as known: the caller's
values are fixed before the module's deployment starts.

The Bicep CLI cannot run here, so this reads pycep's parse (the parser checkov uses) and
follows every name a loop source or a condition reads: parameters and literals are fine,
variables are followed to what they are built from, and a resource, a module, or a
`reference()`/`list*()` call anywhere on that path is reported.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass

from typing import Any

from bicep_reader import Template


# Functions whose result exists only once a resource does.
RUNTIME_FUNCTION = re.compile(r"^(reference|list\w*)$", re.IGNORECASE)
INTERPOLATION = re.compile(r"\$\{(.*?)\}")
# An identifier that is not a property name (not preceded by a dot), in `${...}` text.
ROOT_NAME = re.compile(r"(?<![.\w])([A-Za-z_]\w*)\s*(\()?")
LOOP_SOURCE_FIELDS = ("array_name", "object_name", "start_index", "count")


@dataclass(frozen=True)
class Finding:
    """One expression that needs a deploy-time value and reads a run-time one."""

    template: str
    where: str
    kind: str  # "loop" (BCP178) or "condition" (BCP177)
    culprit: str  # the chain of names that leads to the run-time value

    def __str__(self) -> str:
        rule = "BCP178" if self.kind == "loop" else "BCP177"
        what = "iterates over" if self.kind == "loop" else "is decided by"
        return (
            f"{self.template}: {self.where} {what} a value known only at run time "
            f"({self.culprit}); Bicep needs it when the deployment starts ({rule}). "
            "Build it from parameters and literals, or put the values in a "
            "resource body instead of looping over them."
        )


def deploy_time_findings(template: Template) -> list[Finding]:
    """Every loop source and resource/module condition that reads a run-time value."""
    reader = _Reader(template)
    findings = []
    for where, expression, kind in _deploy_time_expressions(template.data):
        for culprit in reader.runtime_reads(expression):
            findings.append(Finding(template.path.name, where, kind, culprit))
    return findings


def loop_count(template: Template) -> int:
    """How many for-expressions the template has: a check that sees none proves
    nothing."""
    return sum(1 for _ in _loops(template.data, ""))


def _deploy_time_expressions(data: dict[str, Any]) -> Iterator[tuple[str, Any, str]]:
    """(where, expression, kind) for each loop source and resource/module condition."""
    for where, loop in _loops(data, ""):
        detail = loop["loop_type"]["detail"]
        for field in LOOP_SOURCE_FIELDS:
            if detail.get(field) is not None:
                yield where, detail[field], "loop"
    for section in ("resources", "modules"):
        for symbol, entry in data.get(section, {}).items():
            condition = entry.get("config", {}).get("condition")
            if condition is not None:
                yield f"{section[:-1]} {symbol!r}", condition, "condition"


def _loops(node: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        if isinstance(node.get("loop_type"), dict):
            yield _describe(path), node
        for key, value in node.items():
            yield from _loops(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _loops(value, f"{path}[{index}]")


def _describe(path: str) -> str:
    """'/resources/site/config/properties' -> "resource 'site' at properties"."""
    parts = [part for part in path.split("/") if part]
    if len(parts) < 2:
        return path or "template"
    section, symbol, rest = parts[0], parts[1], parts[2:]
    rest = [part for part in rest if part not in ("config", "value")]
    label = f"{section.rstrip('s')} {symbol!r}"
    return f"{label} at {'.'.join(rest)}" if rest else label


class _Reader:
    """Follows names through one template's variables to resources and modules."""

    def __init__(self, template: Template):
        self.variables = template.variables
        self.runtime_symbols = {
            **{name: "resource" for name in template.resources},
            **{name: "module" for name in template.modules},
        }

    def runtime_reads(self, expression: Any, seen: tuple[str, ...] = ()) -> set[str]:
        culprits = set()
        for name in _names_read(expression):
            if name.endswith("()"):
                culprits.add(" -> ".join((*seen, name)))
            elif name in self.runtime_symbols:
                kind = self.runtime_symbols[name]
                culprits.add(" -> ".join((*seen, f"{kind} {name}")))
            elif name in self.variables and f"variable {name}" not in seen:
                value = self.variables[name]["value"]
                culprits |= self.runtime_reads(value, (*seen, f"variable {name}"))
        return culprits


def _names_read(expression: Any) -> Iterator[str]:
    """The names an expression reads; `name()` for a run-time function call."""
    if isinstance(expression, str):
        decoded = _decode_repr(expression)
        if decoded is not None:
            yield from _names_read(decoded)
        elif "${" in expression:
            for inner in INTERPOLATION.findall(expression):
                for name, call in ROOT_NAME.findall(inner):
                    if call and RUNTIME_FUNCTION.match(name):
                        yield f"{name}()"
                    elif not call:
                        yield name
        else:
            yield expression  # a name, or a literal that names nothing
    elif isinstance(expression, list):
        for item in expression:
            yield from _names_read(item)
    elif isinstance(expression, dict):
        if "function" in expression:
            function = expression["function"]
            name = function.get("parameters", {}).get("func_name") or function["type"]
            if RUNTIME_FUNCTION.match(name) or function["type"] == "list_func":
                yield f"{name}()"
            for argument in function.get("parameters", {}).values():
                yield from _names_read(argument)
        elif "operator" in expression:
            yield from _operator_reads(expression["operator"])
        elif "loop_type" in expression:
            detail = expression["loop_type"]["detail"]
            for field in LOOP_SOURCE_FIELDS:
                yield from _names_read(detail.get(field))
        else:  # an object literal: its keys are names of properties, not reads
            for value in expression.values():
                yield from _names_read(value)


def _operator_reads(operator: dict[str, Any]) -> Iterator[str]:
    operands = operator["operands"]
    kind = operator["type"]
    if kind == "property_accessor":
        yield from _names_read(operands["operand_1"])
        yield from _path_reads(operands["operand_2"])
    elif kind == "function_accessor":  # storage.listKeys()
        if RUNTIME_FUNCTION.match(operands.get("func_name", "")):
            yield f"{operands['func_name']}()"
        yield from _names_read(operands["operand_1"])
    else:
        for value in operands.values():
            yield from _names_read(value)


def _path_reads(path: Any) -> Iterator[str]:
    """The right of a dot: property names, which read nothing, and index expressions."""
    if isinstance(path, dict) and "operator" in path:
        operator = path["operator"]
        operands = operator["operands"]
        if operator["type"] == "property_accessor":
            yield from _path_reads(operands["operand_1"])
            yield from _path_reads(operands["operand_2"])
        elif operator["type"] == "index_accessor":
            yield from _path_reads(operands["operand_1"])
            yield from _names_read(operands["operand_2"])
        elif operator["type"] == "function_accessor":
            if RUNTIME_FUNCTION.match(operands.get("func_name", "")):
                yield f"{operands['func_name']}()"
            yield from _path_reads(operands["operand_1"])
        else:
            yield from _operator_reads(operator)
    elif isinstance(path, (dict, list)):
        yield from _names_read(path)


def _decode_repr(text: str) -> Any | None:
    """pycep writes some loop sources as Python reprs of the parsed expression."""
    if (text[:1], text[-1:]) not in {("{", "}"), ("[", "]")}:
        return None
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return None
