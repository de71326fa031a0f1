"""Config: packaged defaults, -c and LVMBEAT_CONFIG_PATH layers, environment, errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lvmbeat.config import (
    DEFAULT_CONFIG_PATH,
    ConfigError,
    load_config,
    merge,
    validate_config,
)


def load_default() -> dict:
    return yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())


def write(tmp_path, text: str):
    path = tmp_path / "lvmbeat.yaml"
    path.write_text(text)
    return path


def test_the_packaged_default_holds_the_contract_defaults():
    config = load_config(environ={})

    assert config.actor.name == "lvmbeat"
    assert config.actor.log_dir == "/data/logs/lvmbeat"
    assert config.timeout == 30
    assert (config.ecp.actor, config.ecp.command) == ("lvmecp", "heartbeat")
    assert (config.ecp.cutoff, config.ecp.command_timeout) == (10, 5)
    assert config.outside_monitor.url is None and config.outside_monitor.key is None
    assert config.outside_monitor.interval == 15
    assert config.outside_monitor.request_timeout < config.outside_monitor.interval
    assert config.network.failures_to_down == 3
    assert config.network.block_emission == ["lco", "outside"]
    assert [(b.name, b.critical) for b in config.heartbeats] == [("overwatcher", True)]


def test_a_config_file_is_merged_over_the_defaults(tmp_path):
    path = write(
        tmp_path,
        "actor: {name: lvmbeat-test}\n"
        "network:\n  checks:\n    lco: {method: tcp, host: 127.0.0.1, port: 5672}\n",
    )

    config = load_config(path, environ={})

    assert config.actor.name == "lvmbeat-test"
    assert config.actor.port == 5672  # kept from the default
    lco = config.network.checks["lco"]
    assert (lco.method, lco.host, lco.port) == ("tcp", "127.0.0.1", 5672)
    # A check is replaced whole: no port leaks from one method into another.
    assert config.network.checks["outside"].port == 53


def test_lvmbeat_config_path_is_used_when_no_file_is_given(tmp_path):
    path = write(tmp_path, "timeout: 12\n")

    assert load_config(environ={"LVMBEAT_CONFIG_PATH": str(path)}).timeout == 12


def test_the_environment_wins_over_the_file(tmp_path):
    path = write(
        tmp_path, "outside_monitor: {url: 'https://old.example.org', key: a}\n"
    )

    config = load_config(
        path,
        environ={
            "LVMBEAT_OUTSIDE_MONITOR_URL": "https://new.example.org",
            "LVMBEAT_OUTSIDE_MONITOR_KEY": "b",
        },
    )

    assert config.outside_monitor.url == "https://new.example.org"
    assert config.outside_monitor.key.get_secret_value() == "b"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("network: {failures_to_down: three}\n", "network.failures_to_down='three'"),
        ("ecp: {cutoff: -1}\n", "ecp.cutoff=-1"),
        ("actor: {port: 70000}\n", "actor.port=70000"),
        ("network: {block_emission: [lco, wan]}\n", "['wan']"),
        ("heartbeats: [{name: a, critical: false}]\n", "critical: true"),
        ("outside_monitor: {interval: 2, timeout: 3}\n", "shorter than interval"),
        ("ecp: {comand: heartbeat}\n", "ecp.comand"),
        (
            "network: {checks: {lco: {method: ping, host: x}, outside: "
            "{method: tcp, host: y, port: 1}}}\n",
            "network.checks.lco.method='ping'",
        ),
    ],
)
def test_an_invalid_config_names_the_key_and_the_value(tmp_path, text, expected):
    with pytest.raises(ConfigError) as raised:
        load_config(write(tmp_path, text), environ={})

    assert expected in str(raised.value)


def test_a_malformed_key_is_never_echoed(tmp_path):
    path = write(tmp_path, "outside_monitor: {key: [s3cret-key]}\n")

    with pytest.raises(ConfigError) as raised:
        load_config(path, environ={})

    assert "outside_monitor.key" in str(raised.value)
    assert "s3cret-key" not in str(raised.value)


def test_a_missing_file_says_which_path(tmp_path):
    with pytest.raises(ConfigError, match="nowhere.yaml"):
        load_config(tmp_path / "nowhere.yaml", environ={})


def test_the_actor_does_not_start_with_an_invalid_config(tmp_path):
    path = write(tmp_path, "timeout: soon\n")

    result = subprocess.run(
        [sys.executable, "-m", "lvmbeat", "-c", str(path), "actor", "start", "--debug"],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    assert "timeout='soon'" in result.stderr


REPO_ROOT = Path(__file__).resolve().parents[2]


def test_the_make_run_config_is_valid_and_probes_only_loopback():
    config = load_config(REPO_ROOT / "actor" / "config.local.yaml", environ={})

    assert config.actor.name == "lvmbeat"
    assert {check.host for check in config.network.checks.values()} == {"127.0.0.1"}


def test_the_kubernetes_example_config_is_valid():
    documents = list(yaml.safe_load_all((REPO_ROOT / "actor" / "k8s.yaml").read_text()))
    (config_map,) = [d for d in documents if d["kind"] == "ConfigMap"]
    raw = yaml.safe_load(config_map["data"]["lvmbeat.yaml"])

    assert validate_config(merge(load_default(), raw)).actor.name == "lvmbeat"
