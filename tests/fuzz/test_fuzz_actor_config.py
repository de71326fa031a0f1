"""Whatever an operator writes into the actor's config file, the loader answers with a
valid config or with its own one-line `ConfigError` naming the key: never another
exception, never a traceback, never the monitor key it was given."""

from __future__ import annotations

import copy
import math
from pathlib import Path

from typing import Any

import pytest
import yaml
from fuzz_support import examples
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from lvmbeat.config import (
    DEFAULT_CONFIG_PATH,
    REQUIRED_CHECKS,
    BeatConfig,
    ConfigError,
    load_config,
    validate_config,
)


DEFAULT: dict[str, Any] = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
SECRET = "fuzz-monitor-key-5d1c0e"
FUZZ = settings(
    max_examples=examples(60),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

# --- strategies -----------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["", "tcp", "icmp", "lco", "outside", "overwatcher", "-1", "3"]),
)
keys = st.one_of(
    st.sampled_from(
        ["actor", "timeout", "ecp", "network", "checks", "heartbeats", "key", "port"]
    ),
    st.text(max_size=12),
)
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=5)
    ),
    max_leaves=25,
)
wrong_values = st.one_of(
    scalars,
    st.sampled_from([-1, 0, -0.5, 1e308, "three", [], {}, [1, 2], {"x": 1}]),
    st.just(math.inf),
)


def _leaf_paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path into the default config: sections, keys and list items."""
    paths = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            paths += _leaf_paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            paths += _leaf_paths(value, (*prefix, index))
    return paths


PATHS = _leaf_paths(DEFAULT)


def _container(document: Any, path: tuple) -> Any:
    for part in path[:-1]:
        document = document[part]
    return document


@st.composite
def mutated_defaults(draw) -> tuple[dict[str, Any], list[tuple]]:
    """The packaged default with a few keys given wrong values, removed, or joined
    by unknown ones; returns the document and the paths touched."""
    document = copy.deepcopy(DEFAULT)
    document["outside_monitor"]["key"] = SECRET
    touched: list[tuple] = []
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(PATHS))
        try:
            parent = _container(document, path)
            parent[path[-1]]  # noqa: B018 - still there after earlier mutations?
        except (KeyError, IndexError, TypeError):
            continue
        action = draw(st.sampled_from(["replace", "remove", "unknown"]))
        if action == "replace":
            parent[path[-1]] = draw(wrong_values)
        elif action == "remove" and isinstance(parent, dict):
            del parent[path[-1]]
        elif isinstance(parent, dict):
            unknown = draw(st.from_regex(r"[a-z_]{1,8}", fullmatch=True))
            parent[unknown] = draw(scalars)
            path = (*path[:-1], unknown)
        else:
            continue
        touched.append(path)
    return document, touched


# --- what a sound answer is -----------------------------------------------------


def _assert_valid(config: BeatConfig) -> None:
    """What the rest of the actor relies on, whatever the input was."""
    numbers = [
        config.timeout,
        config.ecp.cutoff,
        config.ecp.command_timeout,
        config.outside_monitor.interval,
        config.outside_monitor.request_timeout,
        config.network.interval,
        config.network.probe_timeout,
    ]
    assert all(math.isfinite(n) and n >= 0 for n in numbers), numbers
    assert config.timeout > 0 and config.ecp.command_timeout > 0
    assert config.outside_monitor.request_timeout < config.outside_monitor.interval
    assert config.network.failures_to_down >= 1
    assert set(REQUIRED_CHECKS) <= set(config.network.checks)
    assert set(config.network.block_emission) <= set(config.network.checks)
    assert any(beat.critical for beat in config.heartbeats)
    assert 1 <= config.actor.port <= 65535


def _assert_sound_error(error: ConfigError) -> str:
    message = str(error)
    assert message, "an empty config error"
    assert "\n" not in message, f"a config error spans lines: {message!r}"
    assert "Traceback" not in message
    assert SECRET not in message, f"the monitor key leaked: {message!r}"
    return message


def _load(raw: Any) -> BeatConfig | str:
    """The config, or the ConfigError's message; any other exception fails."""
    try:
        config = validate_config(raw)
    except ConfigError as error:
        return _assert_sound_error(error)
    _assert_valid(config)
    return config


def _load_file(path: Path, text: str) -> BeatConfig | str:
    path.write_text(text, encoding="utf-8")
    try:
        config = load_config(path, environ={})
    except ConfigError as error:
        return _assert_sound_error(error)
    _assert_valid(config)
    return config


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("config") / "lvmbeat.yaml"


# --- the properties -------------------------------------------------------------


@FUZZ
@given(text=st.text(max_size=200))
@example(text="timeout: 2024-13-01")  # a date YAML cannot build: was a ValueError
@example(text="timeout: !!float abc")  # an explicit tag on a bad scalar: ValueError
@example(text="[" * 2000)  # deep nesting: was a RecursionError
@example(text="a:\n  - b\n c: d")  # a YAML error, which PyYAML says over 4 lines
@example(text="timeout: .inf")  # was accepted: a heartbeat current for ever
def test_any_text_as_a_config_file_loads_or_fails_with_a_config_error(
    config_file, text
):
    _load_file(config_file, text)


@FUZZ
@given(document=documents)
def test_any_yaml_document_loads_or_fails_with_a_config_error(config_file, document):
    _load_file(config_file, yaml.safe_dump(document))


@FUZZ
@given(document=documents)
@example(document={"0\n": None})  # a key with a newline broke the one-line error
def test_any_document_as_the_whole_config_validates_or_fails_naming_a_key(document):
    result = _load(document)
    assert isinstance(result, str), "an arbitrary document made a whole config"
    assert result.startswith("Invalid lvmbeat config: ")


@FUZZ
@given(mutation=mutated_defaults())
@example(  # a section-level rule printed the whole section, monitor key included
    mutation=(
        {
            **DEFAULT,
            "outside_monitor": {
                **DEFAULT["outside_monitor"],
                "key": SECRET,
                "timeout": 20,
            },
        },
        [("outside_monitor", "timeout")],
    )
)
@example(  # a whole-config rule printed everything under "(top level)"
    mutation=(
        {
            **DEFAULT,
            "outside_monitor": {**DEFAULT["outside_monitor"], "key": SECRET},
            "heartbeats": [{"name": "overwatcher", "critical": False}],
        },
        [("heartbeats", 0, "critical")],
    )
)
def test_a_broken_default_config_fails_naming_a_key_it_broke(mutation):
    document, touched = mutation
    result = _load(document)
    if isinstance(result, BeatConfig):
        return  # the change happened to be a valid one (e.g. 15 -> 3)
    named = result.removeprefix("Invalid lvmbeat config: ")
    sections = {str(path[0]) for path in touched}
    assert any(named.startswith(s) or f"; {s}" in named for s in sections), (
        f"{result!r} names none of the keys changed: {touched}"
    )


@FUZZ
@given(mutation=mutated_defaults())
def test_a_broken_config_file_merged_over_the_default_fails_cleanly(
    config_file, mutation
):
    document, _ = mutation
    _load_file(config_file, yaml.safe_dump(document))


@settings(max_examples=examples(50), deadline=None)
@given(data=st.binary(max_size=200))
@example(data=b"timeout: \xff\xfe")  # not UTF-8: was a UnicodeDecodeError
def test_a_config_file_of_arbitrary_bytes_fails_cleanly(tmp_path_factory, data):
    path = tmp_path_factory.getbasetemp() / "bytes.yaml"
    path.write_bytes(data)
    try:
        config = load_config(path, environ={})
    except ConfigError as error:
        _assert_sound_error(error)
    else:
        _assert_valid(config)
