"""The actor's configuration: one pydantic model, loaded from YAML layers and the env.

Order (later wins): the packaged ``config.yaml``, the file given with ``-c`` (or
named by ``LVMBEAT_CONFIG_PATH``), then ``LVMBEAT_OUTSIDE_MONITOR_URL`` / ``_KEY``.
Everything is validated at start so a typo stops the actor with the key and the value,
instead of a surprise hours later in a background loop.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path

from typing import Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)


DEFAULT_CONFIG_PATH = Path(__file__).with_name("config.yaml")

ENV_CONFIG_PATH = "LVMBEAT_CONFIG_PATH"
ENV_OUTSIDE_URL = "LVMBEAT_OUTSIDE_MONITOR_URL"
ENV_OUTSIDE_KEY = "LVMBEAT_OUTSIDE_MONITOR_KEY"

# Status reports these two checks by name, and lvmecp reads `lco` and `internet`
# (the alias of `outside`) when it polls `lvmbeat status`.
REQUIRED_CHECKS = ("lco", "outside")


class ConfigError(ValueError):
    """The configuration cannot be read or does not validate."""


class _Section(BaseModel):
    # Unknown keys are errors: a misspelt key silently falling back to a default is
    # how a dome ends up closed at night.
    # No inf or nan: `timeout: .inf` would keep a dead heartbeat current for ever.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ActorSection(_Section):
    name: str = Field(min_length=1)
    host: str = "localhost"
    port: int = Field(default=5672, ge=1, le=65535)
    log_dir: str | None = None


class EcpSection(_Section):
    actor: str = Field(min_length=1)
    command: str = Field(min_length=1)
    cutoff: float = Field(ge=0)
    command_timeout: PositiveFloat


class OutsideMonitorSection(_Section):
    url: str | None = None
    key: SecretStr | None = None
    interval: PositiveFloat
    # Must be shorter than the interval so one slow call never overlaps the next;
    # null means half the interval, at most 5 s.
    timeout: PositiveFloat | None = None
    send_email_after: PositiveFloat = 300

    @model_validator(mode="after")
    def _timeout_below_interval(self) -> OutsideMonitorSection:
        if self.timeout is not None and self.timeout >= self.interval:
            raise ValueError(
                f"timeout={self.timeout} must be shorter than interval={self.interval}"
            )
        return self

    @property
    def request_timeout(self) -> float:
        if self.timeout is not None:
            return self.timeout
        return min(5.0, self.interval / 2)


class CheckMethod(StrEnum):
    TCP = "tcp"
    ICMP = "icmp"


class NetworkCheckConfig(_Section):
    method: CheckMethod
    host: str = Field(min_length=1)
    port: int | None = Field(default=None, ge=1, le=65535)

    @model_validator(mode="after")
    def _port_matches_method(self) -> NetworkCheckConfig:
        if self.method is CheckMethod.TCP and self.port is None:
            raise ValueError("a tcp check needs a port")
        if self.method is CheckMethod.ICMP and self.port is not None:
            raise ValueError("an icmp check takes no port")
        return self

    @property
    def target(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"


class NetworkSection(_Section):
    interval: PositiveFloat
    failures_to_down: PositiveInt
    # Each probe's own limit; null means half the interval, at most 5 s. Rounds never
    # overlap (the next one starts an interval after the last ends), so any value works.
    timeout: PositiveFloat | None = None
    block_emission: list[str]
    checks: dict[str, NetworkCheckConfig]

    @model_validator(mode="after")
    def _names_are_known(self) -> NetworkSection:
        missing = [name for name in REQUIRED_CHECKS if name not in self.checks]
        if missing:
            raise ValueError(
                f"checks must define {', '.join(missing)} "
                "(status reports lco and outside; lvmecp reads them)"
            )
        unknown = [name for name in self.block_emission if name not in self.checks]
        if unknown:
            raise ValueError(
                f"block_emission names {unknown} that are not checks "
                f"(known: {sorted(self.checks)})"
            )
        return self

    @property
    def probe_timeout(self) -> float:
        if self.timeout is not None:
            return self.timeout
        return min(5.0, self.interval / 2)


class HeartbeatConfig(_Section):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    critical: bool = True


class BeatConfig(_Section):
    """The whole actor configuration."""

    actor: ActorSection
    timeout: PositiveFloat
    ecp: EcpSection
    outside_monitor: OutsideMonitorSection
    network: NetworkSection
    heartbeats: list[HeartbeatConfig] = Field(min_length=1)

    # A field validator, not a model one, so the error is located at `heartbeats`.
    @field_validator("heartbeats")
    @classmethod
    def _unique_heartbeats(
        cls, heartbeats: list[HeartbeatConfig]
    ) -> list[HeartbeatConfig]:
        names = [beat.name for beat in heartbeats]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"the names {repeated} are repeated")
        if not any(beat.critical for beat in heartbeats):
            # Otherwise non-critical beats alone would keep the dome open.
            raise ValueError("at least one heartbeat needs critical: true")
        return heartbeats


# Entries under these paths are replaced whole, never merged key by key: a check that
# moves from tcp to icmp must not keep the default's port.
WHOLE_ENTRIES = frozenset({("network", "checks")})


def merge(
    base: Mapping[str, Any],
    override: Mapping[str, Any],
    *,
    path: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Deep-merge mappings; lists and scalars in ``override`` replace those in base."""
    merged = dict(base)
    for key, value in override.items():
        mergeable = isinstance(value, Mapping) and isinstance(merged.get(key), Mapping)
        if mergeable and path not in WHOLE_ENTRIES:
            merged[key] = merge(merged[key], value, path=(*path, key))
        else:
            merged[key] = value
    return merged


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(
            f"Cannot read the config file {str(path)!r}: {error.strerror}. "
            "Check the path given with -c or LVMBEAT_CONFIG_PATH."
        ) from error
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"Config file {str(path)!r} is not UTF-8 text (byte {error.start}: "
            f"{error.reason}); save it as UTF-8."
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        raise ConfigError(
            f"Config file {str(path)!r} is not valid YAML: {_yaml_problem(error)}"
        ) from None
    except (yaml.YAMLError, ValueError) as error:
        # ValueError: a scalar YAML reads as a date, int or float but that is none,
        # such as `2024-13-01` or `!!float abc`.
        raise ConfigError(
            f"Config file {str(path)!r} is not valid YAML: {_one_line(str(error))}"
        ) from None
    except RecursionError:
        raise ConfigError(
            f"Config file {str(path)!r} nests too deeply to be an lvmbeat config."
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"Config file {str(path)!r} must hold a mapping of settings, "
            f"not {type(data).__name__}."
        )
    return data


def _yaml_problem(error: yaml.MarkedYAMLError) -> str:
    """PyYAML's error on one line: what, and where (its str() spans several)."""
    what = " ".join(filter(None, (error.context, error.problem))) or "unreadable"
    mark = error.problem_mark or error.context_mark
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    return _one_line(f"{what}{where}")


def _one_line(text: str) -> str:
    return " ".join(text.split())


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_.-]+")


def _location(loc: tuple[int | str, ...]) -> str:
    """`network.checks.lco.port`; a key that is no plain word is quoted, so an odd
    key (a newline, a space) cannot break the one-line error."""
    parts = [
        str(part) if isinstance(part, int) or _PLAIN_KEY.fullmatch(part) else repr(part)
        for part in loc
    ]
    return ".".join(parts) or "(top level)"


def _describe(error: ValidationError) -> str:
    lines = []
    for problem in error.errors():
        location = _location(problem["loc"])
        value = problem.get("input")
        message = _one_line(problem["msg"].removeprefix("Value error, "))
        if problem["type"] == "missing":
            lines.append(f"{location}: missing (required)")
        elif location.startswith("outside_monitor.key"):
            lines.append(f"{location}=<hidden>: {message}")  # never echo a secret
        elif isinstance(value, Mapping | list):
            # A whole section (a model-level rule): naming it is enough, and its
            # contents may hold a secret such as outside_monitor.key.
            lines.append(f"{location}: {message}")
        else:
            lines.append(f"{location}={value!r}: {message}")
    return "Invalid lvmbeat config: " + "; ".join(lines) + "."


def validate_config(raw: Mapping[str, Any]) -> BeatConfig:
    """A checked `BeatConfig`, or a `ConfigError` naming the key and the value."""
    try:
        return BeatConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(_describe(error)) from None


def load_config(
    path: str | Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> BeatConfig:
    """Packaged defaults, merged with ``path`` (or $LVMBEAT_CONFIG_PATH), then env."""
    environ = os.environ if environ is None else environ
    raw = _read_yaml(DEFAULT_CONFIG_PATH)
    path = path or environ.get(ENV_CONFIG_PATH) or None
    if path:
        raw = merge(raw, _read_yaml(Path(path).expanduser()))
    overrides: dict[str, Any] = {}
    if environ.get(ENV_OUTSIDE_URL):
        overrides["url"] = environ[ENV_OUTSIDE_URL]
    if environ.get(ENV_OUTSIDE_KEY):
        overrides["key"] = environ[ENV_OUTSIDE_KEY]
    if overrides:
        raw = merge(raw, {"outside_monitor": overrides})
    return validate_config(raw)
