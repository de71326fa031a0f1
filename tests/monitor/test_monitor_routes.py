"""Every route and the timer through the objects the Azure host uses: the functions
`function_app.app` indexes, called with `func.HttpRequest` / `func.TimerRequest`."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from urllib.parse import urlencode

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest
from monitor_support import smtp_env

import function_app
from lvmbeat_local.dev.ports import free_port
from lvmbeat_monitor import __version__, runtime
from lvmbeat_monitor.state import StorageUnavailable


CONTRACT = {
    # route: (methods, auth level)
    "heartbeat": ({"GET", "POST"}, "FUNCTION"),
    "status": ({"GET"}, "ANONYMOUS"),
    "enable": ({"GET", "POST"}, "FUNCTION"),
    "disable": ({"GET", "POST"}, "FUNCTION"),
    "email-test": ({"GET", "POST"}, "FUNCTION"),
    "notify/{kind}": ({"GET", "POST"}, "FUNCTION"),
    "version": ({"GET"}, "ANONYMOUS"),
}


def indexed() -> dict[str, tuple[object, list[dict]]]:
    """What the host indexes: function name -> (user function, bindings)."""
    # azure-functions 1.x remembers the names it indexed and refuses a second
    # get_functions() on the same app; the host calls it once per process.
    function_app.app.functions_bindings = None
    return {
        fn.get_function_name(): (
            fn.get_user_function(),
            [json.loads(raw) for raw in fn.get_raw_bindings()],
        )
        for fn in function_app.app.get_functions()
    }


async def call(route: str, method: str = "GET", params=None, route_params=None):
    """Call the function serving `route` as the host would; returns (status, JSON)."""
    params = params or {}
    query = urlencode(params)
    for handler, bindings in indexed().values():
        trigger = bindings[0]
        if trigger.get("route") == route:
            path = route.format(**(route_params or {}))
            request = func.HttpRequest(
                method,
                f"http://127.0.0.1:7071/{path}" + (f"?{query}" if query else ""),
                params=params,
                route_params=route_params or {},
                body=b"",
            )
            response = await handler(request)
            assert response.mimetype == "application/json"
            return response.status_code, json.loads(response.get_body())
    raise AssertionError(f"no function serves {route}")


@pytest.fixture
def env(monitor_env, smtp_server, monkeypatch):
    """The process environment of a monitor on Azurite with SMTP email."""
    values = {**monitor_env, **smtp_env(smtp_server)}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    runtime.use(None)
    yield values
    runtime.use(None)


async def test_the_host_indexes_the_contracts_routes_methods_and_auth_levels():
    http = {}
    timers = []
    for _, bindings in indexed().values():
        trigger = bindings[0]
        if trigger["type"] == "httpTrigger":
            http[trigger["route"]] = (set(trigger["methods"]), trigger["authLevel"])
        else:
            timers.append(trigger)
    assert http == CONTRACT
    assert len(timers) == 1
    assert timers[0]["type"] == "timerTrigger"
    assert timers[0]["schedule"] == "%LVMBEAT_CHECK_SCHEDULE%"


async def test_host_json_puts_the_routes_at_the_site_root():
    host = json.loads((Path(function_app.__file__).parent / "host.json").read_text())
    assert host["extensions"]["http"]["routePrefix"] == ""
    assert host["extensionBundle"]["version"].startswith("[4.")


async def test_version_answers_the_packages_version():
    assert await call("version") == (200, {"version": __version__})


async def test_a_heartbeat_is_recorded_and_shown_in_status(env):
    status, beat = await call("heartbeat", "POST")
    assert status == 200 and beat["message"] == "Heartbeat received."
    assert beat["last_seen"].endswith("Z") and len(beat["last_seen"]) == 20
    status, body = await call("status")
    assert status == 200
    assert body["last_seen"] == beat["last_seen"]
    assert body["enabled"] is True and body["active"] is False
    assert body["last_error"] is None and body["disabled_until"] is None


async def test_disable_for_some_minutes_then_enable(env):
    status, body = await call("disable", params={"minutes": "30"})
    assert status == 200 and body["enabled"] is False
    assert body["disabled_until"].endswith("Z")
    assert (await call("status"))[1]["disabled_until"] == body["disabled_until"]
    status, body = await call("enable", "POST")
    assert (status, body["enabled"]) == (200, True)
    assert (await call("status"))[1]["enabled"] is True


async def test_a_plain_disable_has_no_end(env):
    status, body = await call("disable", "POST")
    assert (status, body["enabled"], body["disabled_until"]) == (200, False, None)


@pytest.mark.parametrize(
    "minutes", ["soon", "0", "-5", "999999", "", "+7", "1_0", "\u0663", " "]
)
async def test_a_bad_minutes_value_is_a_400_that_names_it(env, minutes, caplog):
    status, body = await call("disable", params={"minutes": minutes, "code": "key-123"})
    assert status == 400 and "minutes=" in body["error"]
    assert "minutes=" in caplog.text  # logged, but never the function key
    assert "key-123" not in caplog.text


async def test_email_test_sends_a_test_message(env, smtp_server):
    assert await call("email-test", "POST") == (200, {"message": "Email sent."})
    (mail,) = smtp_server.sink.wait_for(1)
    assert str(mail.message["Subject"]).startswith("TEST:")


async def test_email_test_reports_a_failed_send_as_502_without_secrets(
    env, monkeypatch
):
    monkeypatch.setenv("LVMBEAT_EMAIL_PORT", str(free_port()))  # nobody listens
    runtime.use(None)
    status, body = await call("email-test")
    assert status == 502 and "Could not reach SMTP server" in body["error"]
    assert "AccountKey" not in json.dumps(body)


async def test_email_test_names_a_missing_email_setting(env, monkeypatch):
    monkeypatch.delenv("LVMBEAT_EMAIL_FROM_ADDRESS")
    runtime.use(None)
    status, body = await call("email-test")
    assert status == 503 and "LVMBEAT_EMAIL_FROM_ADDRESS" in body["error"]


async def test_notify_down_then_up(env, smtp_server):
    status, body = await call("notify/{kind}", route_params={"kind": "down"})
    assert (status, body["sent"], body["active"]) == (200, True, True)
    status, body = await call("notify/{kind}", route_params={"kind": "down"})
    assert (status, body["sent"]) == (200, False)
    assert "force=true" in body["message"]
    status, body = await call(
        "notify/{kind}", route_params={"kind": "down"}, params={"force": "true"}
    )
    assert (status, body["sent"]) == (200, True)
    status, body = await call("notify/{kind}", "POST", route_params={"kind": "up"})
    assert (status, body["sent"], body["active"]) == (200, True, False)
    subjects = [str(m.message["Subject"]) for m in smtp_server.sink.wait_for(3)]
    assert subjects == [
        "LCO internet is down",
        "LCO internet is down",
        "RESOLVED: LCO internet is up",
    ]


async def test_notify_of_something_unknown_is_a_404(env):
    status, body = await call("notify/{kind}", route_params={"kind": "sideways"})
    assert status == 404 and "/notify/up" in body["error"]


async def test_a_bad_force_value_is_a_400(env):
    status, body = await call(
        "notify/{kind}", route_params={"kind": "up"}, params={"force": "maybe"}
    )
    assert status == 400 and "force=" in body["error"]


async def test_a_bare_force_flag_means_force(env, smtp_server):
    await call("notify/{kind}", route_params={"kind": "down"})
    status, body = await call(
        "notify/{kind}", route_params={"kind": "down"}, params={"force": ""}
    )
    assert (status, body["sent"]) == (200, True)
    assert len(smtp_server.sink.wait_for(2)) == 2


async def test_a_failed_notify_is_a_502_and_stays_pending(env, smtp_server):
    smtp_server.sink.fail_next = 1
    status, body = await call("notify/{kind}", route_params={"kind": "down"})
    assert status == 502 and "stays pending" in body["error"]
    assert "451" in body["error"]  # a keyed caller gets the reason
    status_body = (await call("status"))[1]
    assert status_body["pending"] == "down" and status_body["last_error"] == "refused"
    check = indexed()["check"][0]
    await check(TimerRequest(past_due=False))  # the timer retries it
    assert len(smtp_server.sink.wait_for(1)) == 1
    assert (await call("status"))[1]["last_error"] is None


async def test_anonymous_status_shows_error_kinds_not_servers_or_users(
    env, smtp_tls_server, ca_bundle, monkeypatch
):
    # An SMTP relay that refuses our login: the reason names the relay and the user,
    # which anonymous /status must not show.
    for name, value in {
        "LVMBEAT_EMAIL_HOST": smtp_tls_server.host,
        "LVMBEAT_EMAIL_PORT": str(smtp_tls_server.port),
        "LVMBEAT_EMAIL_TLS": "true",
        "LVMBEAT_EMAIL_USERNAME": "lvm-monitor",
        "LVMBEAT_EMAIL_PASSWORD": "not-the-password",
        "LVMBEAT_EMAIL_CA_FILE": str(ca_bundle),
    }.items():
        monkeypatch.setenv(name, value)
    runtime.use(None)
    status, body = await call("notify/{kind}", route_params={"kind": "down"})
    assert status == 502 and "lvm-monitor" in body["error"]  # keyed: the detail
    status, public = await call("status")
    assert public["channels"]["email"] == {"pending": "down", "last_error": "auth"}
    shown = json.dumps(public)
    for secret in ("lvm-monitor", "not-the-password", "127.0.0.1", "lco.test"):
        assert secret not in shown


async def test_a_malformed_setting_is_named_to_keyed_callers_only(env, monkeypatch):
    monkeypatch.setenv("LVMBEAT_EMAIL_PORT", "smtp-relay.internal")
    runtime.use(None)
    status, body = await call("status")
    assert status == 503 and "misconfigured" in body["error"]
    assert "smtp-relay.internal" not in body["error"]
    status, body = await call("enable", "POST")
    assert status == 503 and "LVMBEAT_EMAIL_PORT" in body["error"]


async def test_a_grace_shorter_than_two_checks_is_refused_naming_both(env, monkeypatch):
    monkeypatch.setenv("LVMBEAT_SEND_EMAIL_AFTER", "15")
    runtime.use(None)
    status, body = await call("enable")
    assert status == 503
    assert "LVMBEAT_SEND_EMAIL_AFTER" in body["error"]
    assert "LVMBEAT_CHECK_SCHEDULE" in body["error"]


@pytest.fixture
def unreachable_storage(monitor_env, monkeypatch):
    """Settings whose table endpoint is a local port where nothing listens."""
    port = free_port()
    connection = monitor_env["LVMBEAT_STORAGE_CONNECTION_STRING"].replace(
        monitor_env["LVMBEAT_STORAGE_CONNECTION_STRING"].split("TableEndpoint=")[1],
        f"http://127.0.0.1:{port}/devstoreaccount1;",
    )
    monkeypatch.setenv("LVMBEAT_STORAGE_CONNECTION_STRING", connection)
    monkeypatch.setenv("LVMBEAT_TABLE_NAME", monitor_env["LVMBEAT_TABLE_NAME"])
    runtime.use(None)
    yield connection
    runtime.use(None)


async def test_unreachable_storage_is_a_503_for_heartbeat_and_status(
    unreachable_storage, caplog
):
    for route in ("heartbeat", "status"):
        status, body = await call(route)
        assert status == 503
        assert "Traceback" not in body["error"]
    assert "could not be reached" in (await call("heartbeat"))[1]["error"]
    assert "storage" in (await call("status"))[1]["error"]  # anonymous: no table name
    assert "AccountKey" not in caplog.text
    assert "Eby8vdM02" not in caplog.text


async def test_a_check_that_cannot_read_storage_is_a_failed_run(
    unreachable_storage, caplog
):
    # A failed invocation is what Azure Monitor's timer-failing alert counts; the
    # host runs the next one on schedule all the same.
    check = indexed()["check"][0]
    with caplog.at_level(logging.ERROR), pytest.raises(StorageUnavailable):
        await check(TimerRequest(past_due=True))
    assert "Check failed" in caplog.text
    assert "Eby8vdM02" not in caplog.text
