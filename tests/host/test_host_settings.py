"""Settings reach the app as under `func start`: environment first, then the file."""

from __future__ import annotations

import httpx
import pytest
from host_support import QUIET_SCHEDULE, write_local_settings

from lvmbeat_local.dev.ports import ServiceNotReady


def test_the_app_reads_local_settings_and_the_environment_wins(start_host, sample_app):
    write_local_settings(
        sample_app,
        {
            "SAMPLE_TIMER_SCHEDULE": QUIET_SCHEDULE,
            "SAMPLE_FROM_FILE": "from the file",
            "SAMPLE_BOTH": "from the file",
        },
    )
    host = start_host(sample_app, env={"SAMPLE_BOTH": "from the environment"})

    def setting(name: str) -> str | None:
        return httpx.get(f"{host.url}/setting/{name}", timeout=10).json()["value"]

    assert setting("SAMPLE_FROM_FILE") == "from the file"
    assert setting("SAMPLE_BOTH") == "from the environment"
    assert setting("SAMPLE_NOWHERE") is None


def test_a_schedule_setting_that_is_missing_stops_the_host_with_its_name(
    start_host, sample_app
):
    write_local_settings(sample_app, {})
    with pytest.raises(ServiceNotReady) as failure:
        start_host(sample_app)
    assert "%SAMPLE_TIMER_SCHEDULE%" in str(failure.value)
    assert "Traceback" not in str(failure.value)


def test_a_schedule_that_is_not_six_field_ncrontab_is_refused(start_host, sample_app):
    write_local_settings(sample_app, {"SAMPLE_TIMER_SCHEDULE": "*/5 * * * *"})
    with pytest.raises(ServiceNotReady) as failure:
        start_host(sample_app)
    assert "'*/5 * * * *' is not a six-field NCRONTAB" in str(failure.value)


def test_an_encrypted_local_settings_file_is_refused(start_host, sample_app):
    (sample_app / "local.settings.json").write_text('{"IsEncrypted": true}')
    with pytest.raises(ServiceNotReady) as failure:
        start_host(sample_app)
    assert "IsEncrypted" in str(failure.value)


def test_routes_sit_under_api_when_host_json_sets_no_prefix(start_host, tmp_path):
    app_dir = tmp_path / "plain"
    app_dir.mkdir()
    (app_dir / "function_app.py").write_text(
        "import azure.functions as func\n"
        "app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)\n"
        "@app.route(route='ping')\n"
        "async def ping(req: func.HttpRequest) -> func.HttpResponse:\n"
        "    return func.HttpResponse('pong')\n"
    )
    host = start_host(app_dir)
    assert httpx.get(f"{host.url}/api/ping", timeout=10).text == "pong"
    assert httpx.delete(f"{host.url}/api/ping", timeout=10).text == "pong"
    assert httpx.get(f"{host.url}/ping", timeout=10).status_code == 404


def test_a_folder_without_function_app_py_is_refused_with_its_path(
    start_host, tmp_path
):
    with pytest.raises(ServiceNotReady) as failure:
        start_host(tmp_path)
    assert f"{tmp_path} (--app-dir) has no function_app.py" in str(failure.value)


@pytest.mark.parametrize(
    ("declaration", "said"),
    [
        (
            "@app.route(route='ping')\ndef ping(req: func.HttpRequest):\n",
            "Function ping is a plain `def`",
        ),
        (
            "@app.route(route='ping', auth_level=func.AuthLevel.ADMIN)\n"
            "async def ping(req: func.HttpRequest):\n",
            "Function ping has authLevel 'admin'",
        ),
        (
            "@app.route(route='ping/{id:int}')\n"
            "async def ping(req: func.HttpRequest):\n",
            "has segment '{id:int}'",
        ),
    ],
)
def test_an_app_the_host_would_serve_unlike_azure_is_refused_at_start(
    start_host, tmp_path, declaration, said
):
    app_dir = tmp_path / "other"
    app_dir.mkdir()
    (app_dir / "function_app.py").write_text(
        "import azure.functions as func\n"
        "app = func.FunctionApp()\n"
        f"{declaration}"
        "    return func.HttpResponse('pong')\n"
    )
    with pytest.raises(ServiceNotReady) as failure:
        start_host(app_dir)
    assert said in str(failure.value)
    assert "Traceback" not in str(failure.value)
