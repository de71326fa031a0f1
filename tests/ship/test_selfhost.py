"""The self-hosting examples (deploy/selfhost/) name real settings, with values that
load.

Docker and Kubernetes do not run here. These tests read compose.yaml and k8s.yaml: every
setting they give the monitor's container is a Functions host setting that
docs/self-hosting.md explains or a field of the monitor's settings model, and the
values, filled in from .env.example, load through `load_settings` as the monitor will
load them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from typing import Any

import yaml
from ship_support import REPO_ROOT, SELFHOST, load_workflow, unpinned_images, version

from lvmbeat_monitor.settings import EmailBackend, Settings, load_settings


# The Functions host's own settings the examples use; docs/self-hosting.md has them.
HOST_SETTINGS = frozenset(
    {
        "AzureWebJobsStorage",
        "AzureFunctionsWebHost__hostid",
        "AzureWebJobsSecretStorageType",
    }
)
MONITOR_SETTINGS = frozenset(field.alias for field in Settings.model_fields.values())
INTERPOLATION = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:[?-])(?P<arg>[^}]*))?\}")
# A stand-in for what the operator fills in: a base64 key, a connection string.
FILLED_IN = {"STORAGE_KEY": "c3RhbmQtaW4ga2V5IGZvciB0aGUgdGVzdHMgb25seQ=="}


def env_example() -> dict[str, str]:
    values = {}
    for line in (SELFHOST / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip().strip('"')
    return values


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Compose's ${NAME}, ${NAME:-default} and ${NAME:?error}, as compose does."""

    def substitute(match: re.Match[str]) -> str:
        given = variables.get(match["name"], "")
        if match["op"] == ":-":
            return given or match["arg"]
        if match["op"] == ":?" and not given:
            raise AssertionError(f"{match['name']} unset: {match['arg']}")
        return given

    return INTERPOLATION.sub(substitute, value)


def compose() -> dict[str, Any]:
    return yaml.safe_load((SELFHOST / "compose.yaml").read_text())


def compose_monitor_env() -> dict[str, str]:
    variables = env_example() | FILLED_IN
    environment = compose()["services"]["monitor"]["environment"]
    return {name: interpolate(str(v), variables) for name, v in environment.items()}


def k8s_documents() -> list[dict[str, Any]]:
    return list(yaml.safe_load_all((SELFHOST / "k8s.yaml").read_text()))


def k8s_container() -> dict[str, Any]:
    (deployment,) = [doc for doc in k8s_documents() if doc["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def k8s_monitor_env() -> dict[str, str]:
    env = {}
    for entry in k8s_container()["env"]:
        # Values from secrets are the operator's; a stand-in shows the shape loads.
        env[entry["name"]] = entry.get("value", "UseDevelopmentStorage=true")
    return env


def unknown_settings(environment: dict[str, str]) -> list[str]:
    return sorted(set(environment) - HOST_SETTINGS - MONITOR_SETTINGS)


def test_every_compose_setting_is_a_host_or_monitor_setting():
    assert unknown_settings(compose_monitor_env()) == []


def test_every_kubernetes_setting_is_a_host_or_monitor_setting():
    assert unknown_settings(k8s_monitor_env()) == []


def test_a_misspelt_setting_is_caught():
    assert unknown_settings({"LVMBEAT_EMAIL_HOTS": "smtp"}) == ["LVMBEAT_EMAIL_HOTS"]


def test_the_host_settings_used_are_explained_in_the_self_hosting_guide():
    guide = (REPO_ROOT / "docs" / "self-hosting.md").read_text()
    for name in HOST_SETTINGS:
        assert f"`{name}`" in guide, name


def test_the_compose_settings_load_as_an_smtp_monitor_on_azurite():
    settings = load_settings(compose_monitor_env())
    assert settings.resolved_email_backend() is EmailBackend.SMTP
    assert settings.email_host == "smtp"
    assert settings.email_tls is False
    # The table lives in AzureWebJobsStorage: Azurite's account from .env.
    connection = settings.storage_connection().get_secret_value()
    account = env_example()["STORAGE_ACCOUNT"]
    assert f"TableEndpoint=http://azurite:10002/{account};" in connection


def test_the_kubernetes_settings_load_as_an_smtp_monitor_with_tls():
    settings = load_settings(k8s_monitor_env())
    assert settings.resolved_email_backend() is EmailBackend.SMTP
    assert settings.email_tls is True


def test_every_value_compose_requires_is_in_the_env_example():
    text = (SELFHOST / "compose.yaml").read_text()
    required = {m["name"] for m in INTERPOLATION.finditer(text) if m["op"] == ":?"}
    assert required <= set(env_example()), required - set(env_example())


def test_azurite_in_compose_is_the_version_the_tests_run():
    package = json.loads((REPO_ROOT / "package.json").read_text())
    image = compose()["services"]["azurite"]["image"]
    assert image == (
        "mcr.microsoft.com/azure-storage/azurite:"
        f"{package['devDependencies']['azurite']}"
    )
    command = compose()["services"]["azurite"]["command"]
    assert "--location=/data" in command
    volumes = compose()["services"]["azurite"]["volumes"]
    assert any(volume.endswith(":/data") for volume in volumes)


def monitor_image() -> str:
    job = next(iter(load_workflow("docker.yml")["jobs"].values()))
    (entry,) = [
        entry
        for entry in job["strategy"]["matrix"]["include"]
        if entry["dockerfile"] == "function_app/Dockerfile"
    ]
    return entry["image"]


def test_the_examples_run_the_released_image_of_this_version():
    services = compose()["services"]
    assert services["monitor"]["image"].startswith(f"{monitor_image()}:")
    assert env_example()["LVMBEAT_VERSION"] == version()
    assert k8s_container()["image"] == f"{monitor_image()}:{version()}"
    build = Path(services["monitor"]["build"]["context"])
    assert (SELFHOST / build / "Dockerfile").resolve() == (
        REPO_ROOT / "function_app" / "Dockerfile"
    )


def test_every_other_compose_image_is_pinned_to_a_tag():
    images = [
        service["image"]
        for name, service in compose()["services"].items()
        if name != "monitor"
    ]
    assert unpinned_images(images) == []


def test_only_the_https_proxy_is_reachable_from_outside():
    # The actor's key travels in a header: the monitor is never published in clear.
    published = {
        name for name, service in compose()["services"].items() if service.get("ports")
    }
    assert published == {"https"}


def test_kubernetes_keys_are_read_only_files_from_a_secret():
    env = k8s_monitor_env()
    assert env["AzureWebJobsSecretStorageType"] == "kubernetes"
    # Without a secret name the host only reads the mounted files (no API writes).
    assert "AzureWebJobsKubernetesSecretName" not in env
    (mount,) = k8s_container()["volumeMounts"]
    assert mount["mountPath"] == "/run/secrets/functions-keys"
    assert mount["readOnly"] is True


def test_every_replica_and_restart_shares_one_host_id():
    assert compose_monitor_env()["AzureFunctionsWebHost__hostid"] == "lvmbeat-monitor"
    assert k8s_monitor_env()["AzureFunctionsWebHost__hostid"] == "lvmbeat-monitor"


def test_the_actors_key_in_the_examples_opens_the_heartbeat_function_only():
    # The key files name a function of function_app.py; a renamed function would leave
    # the actor with a key the host no longer matches to /heartbeat.
    app = (REPO_ROOT / "function_app" / "function_app.py").read_text()
    route = re.search(r'route="heartbeat".*\n(?:async )?def (\w+)\(', app)
    assert route is not None
    function = route[1]
    k8s = (SELFHOST / "k8s.yaml").read_text()
    assert f"--from-literal=functions.{function}.lvmbeat-actor=" in k8s
    guide = (REPO_ROOT / "docs" / "self-hosting.md").read_text()
    assert f"/admin/functions/{function}/keys/lvmbeat-actor" in guide
    assert "/admin/host/keys/lvmbeat-actor" not in guide
