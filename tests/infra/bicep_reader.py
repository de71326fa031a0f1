"""Read the Bicep templates as data, following module references.

The Bicep CLI cannot run here, so the tests read the templates the way checkov does,
with pycep-parser, and resolve the few expressions they care about (variables, module
parameters, `union`, property paths). Anything this reader cannot resolve fails the
test that asked, naming the expression, rather than passing by accident.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from typing import Any

from pycep import BicepParser


REPO_ROOT = Path(__file__).resolve().parents[2]
INFRA_DIR = REPO_ROOT / "infra"

_PARSER = BicepParser()


class UnresolvedExpression(AssertionError):
    """The reader met an expression it does not evaluate; the message names it."""


@dataclass(frozen=True)
class Template:
    """One parsed .bicep file."""

    path: Path
    data: dict[str, Any]

    @classmethod
    def load(cls, path: Path) -> Template:
        return cls(path=path, data=_PARSER.parse(file_path=path))

    @property
    def parameters(self) -> dict[str, Any]:
        return self.data.get("parameters", {})

    @property
    def variables(self) -> dict[str, Any]:
        return self.data.get("variables", {})

    @property
    def resources(self) -> dict[str, Any]:
        return self.data.get("resources", {})

    @property
    def modules(self) -> dict[str, Any]:
        return self.data.get("modules", {})

    @property
    def outputs(self) -> dict[str, Any]:
        return self.data.get("outputs", {})

    def resource_config(self, symbol: str) -> dict[str, Any]:
        """A resource's body, looking through a deploy condition (`if (...) {...}`)."""
        config = self.resources[symbol]["config"]
        return config["config"] if "condition" in config else config

    def symbols_of_type(self, resource_type: str) -> list[str]:
        return [
            symbol
            for symbol, resource in self.resources.items()
            if resource["type"].lower() == resource_type.lower()
            and not resource.get("existing")
        ]

    def only(self, resource_type: str) -> tuple[str, dict[str, Any]]:
        symbols = self.symbols_of_type(resource_type)
        if len(symbols) != 1:
            raise AssertionError(
                f"{self.path.name}: expected one {resource_type}, found {symbols}"
            )
        return symbols[0], self.resource_config(symbols[0])

    def module_params(self, symbol: str) -> dict[str, Any]:
        config = self.modules[symbol]["config"]
        config = config["config"] if "condition" in config else config
        return config.get("params", {})


@dataclass(frozen=True)
class Deployment:
    """main.bicep and the module templates it calls, by their symbol in main."""

    main: Template
    modules: dict[str, Template]

    @classmethod
    def load(cls, infra_dir: Path = INFRA_DIR) -> Deployment:
        main = Template.load(infra_dir / "main.bicep")
        modules = {}
        for symbol, module in main.modules.items():
            path = infra_dir / module["detail"]["path"]
            if not path.is_file():
                raise AssertionError(f"module {symbol!r} names missing {path}")
            modules[symbol] = Template.load(path)
        return cls(main=main, modules=modules)

    def templates(self) -> list[Template]:
        return [self.main, *self.modules.values()]

    def resource_types(self) -> set[str]:
        return {
            resource["type"]
            for template in self.templates()
            for resource in template.resources.values()
            if not resource.get("existing")
        }

    def module_holding(self, resource_type: str) -> str:
        """The symbol of the one module that declares a resource of this type."""
        holders = [
            symbol
            for symbol, template in self.modules.items()
            if template.symbols_of_type(resource_type)
        ]
        if len(holders) != 1:
            raise AssertionError(f"expected one module with {resource_type}: {holders}")
        return holders[0]

    def function_app(self) -> tuple[str, Template, dict[str, Any]]:
        """(module symbol, module template, site body) of the function app."""
        symbol = self.module_holding("Microsoft.Web/sites")
        template = self.modules[symbol]
        _, site = template.only("Microsoft.Web/sites")
        return symbol, template, site

    def app_settings(self, *, always: bool = False) -> dict[str, Any]:
        """Every app setting the function app may get: name -> parsed value expression.

        Settings may sit in the site's `siteConfig.appSettings` (a literal list of
        name/value objects) or in a `Microsoft.Web/sites/config` resource named
        `appsettings` whose parent is the site, as Microsoft's Flex samples do. Both
        are read, so a setting cannot hide from the checks in either place.

        A setting inside a conditional object (`cond ? {...} : {...}`, an optional
        channel) counts when either branch sets it; with `always=True` only the
        settings that every deployment gets, whatever its parameters, are returned.
        """
        symbol, template, site = self.function_app()
        settings: dict[str, Any] = {}
        listing = site["properties"].get("siteConfig", {}).get("appSettings")
        if listing is not None:
            settings.update(self._site_config_settings(symbol, template, listing))
        site_symbol = template.symbols_of_type("Microsoft.Web/sites")[0]
        for config_symbol in template.symbols_of_type("Microsoft.Web/sites/config"):
            config = template.resource_config(config_symbol)
            is_settings = config.get("name") == "appsettings"
            if is_settings and config.get("parent") == site_symbol:
                properties = config.get("properties", {})
                settings.update(self.resolve_object(symbol, properties, always=always))
        return settings

    def _site_config_settings(
        self, module: str, template: Template, listing: Any
    ) -> dict[str, Any]:
        """siteConfig.appSettings: a literal list, or a loop over an object's items."""
        if isinstance(listing, list):
            found = {}
            for entry in listing:
                if not (isinstance(entry, dict) and isinstance(entry.get("name"), str)):
                    raise UnresolvedExpression(
                        f"{template.path.name}: siteConfig.appSettings entry {entry!r} "
                        "is not {name: '<literal>', value: ...}"
                    )
                found[entry["name"]] = entry.get("value")
            return found
        loop = listing.get("loop_type") if isinstance(listing, dict) else None
        if not loop or loop["type"] != "object":
            raise UnresolvedExpression(
                f"{template.path.name}: siteConfig.appSettings is neither a literal "
                f"list nor `[for s in items(<object>): ...]`: {listing!r}"
            )
        return self.resolve_object(module, loop["detail"]["object_name"])

    def resolve_object(
        self, module: str | None, expression: Any, *, always: bool = False
    ) -> dict[str, Any]:
        """Evaluate an object-valued expression in a module (None: in main.bicep).

        A conditional object gives the keys of either branch, or with `always=True`
        the keys both branches set (the value shown is the true branch's).
        """
        template = self.main if module is None else self.modules[module]
        if isinstance(expression, str):
            if expression in template.variables:
                value = template.variables[expression]["value"]
                return self.resolve_object(module, value, always=always)
            if module is not None and expression in template.parameters:
                passed = self.main.module_params(module).get(expression)
                if passed is None:
                    raise UnresolvedExpression(
                        f"main.bicep does not pass {expression!r} to module {module!r}"
                    )
                return self.resolve_object(None, passed, always=always)
        if isinstance(expression, dict):
            function = expression.get("function")
            if function and function["type"] == "union":
                merged: dict[str, Any] = {}
                for argument in function["parameters"].values():
                    merged.update(self.resolve_object(module, argument, always=always))
                return merged
            operator = expression.get("operator")
            if operator and operator["type"] == "conditional":
                operands = operator["operands"]
                when_true = self.resolve_object(
                    module, operands["true_value"], always=always
                )
                when_false = self.resolve_object(
                    module, operands["false_value"], always=always
                )
                if always:
                    return {k: v for k, v in when_true.items() if k in when_false}
                return {**when_false, **when_true}
            if not ({"function", "operator", "loop_type"} & expression.keys()):
                return expression
        raise UnresolvedExpression(
            f"{template.path.name}: cannot evaluate {expression!r} to an object"
        )


def dotted(expression: Any) -> str | None:
    """`a.b.c` for a property path such as `storage.outputs.name`, else None."""
    if isinstance(expression, str):
        return expression
    if isinstance(expression, dict) and "operator" in expression:
        operator = expression["operator"]
        if operator["type"] == "property_accessor":
            left = dotted(operator["operands"]["operand_1"])
            right = dotted(operator["operands"]["operand_2"])
            if left is not None and right is not None:
                return f"{left}.{right}"
    return None


def all_bicep_files(infra_dir: Path = INFRA_DIR) -> list[Path]:
    return sorted(infra_dir.rglob("*.bicep"))


def parameters_file_names(path: Path) -> tuple[str | None, set[str]]:
    """(the `using` target, the parameter names set) of a .bicepparam file.

    pycep does not read .bicepparam; its grammar here is one `using '<file>'` and
    `param <name> = <value>` lines, which is all main.bicepparam uses.
    """
    using = None
    names: set[str] = set()
    for raw in path.read_text().splitlines():
        line = raw.split("//", 1)[0].strip()
        if line.startswith("using "):
            using = line.removeprefix("using ").strip().strip("'")
        elif line.startswith("param "):
            names.add(line.removeprefix("param ").split("=", 1)[0].strip())
    return using, names


def edit(path: Path, old: str, new: str) -> None:
    """Replace text that must be there; a test whose edit misses would prove nothing."""
    text = path.read_text()
    if old not in text:
        raise AssertionError(f"{path.name} no longer contains {old!r}; update the test")
    path.write_text(text.replace(old, new, 1))
