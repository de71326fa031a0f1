"""The repository's own function app (function_app/) through the local host.

These read the routes from `function_app.app.get_functions()`, so they follow the
monitor as it grows: every route it declares must be served and guarded by its auth
level. The two-hosts test needs the monitor's heartbeat route and timer; until that app
is merged it skips, saying so.
"""

from __future__ import annotations

import asyncio
import functools
import re
import subprocess
import sys

import httpx
import pytest
from host_support import SAMPLE_KEY, load_app_module

from lvmbeat_local.dev.relay import BrokerProxy
from lvmbeat_local.dev.smtp import SmtpServer
from lvmbeat_local.host.invoke import CALLS_PER_FUNCTION
from lvmbeat_local.host.keys import KEY_SETTING
from lvmbeat_local.host.loader import AuthLevel, describe, find_app_dir
from lvmbeat_local.host.process import HostProcess
from lvmbeat_monitor.service import MonitorService
from lvmbeat_monitor.settings import load_settings
from lvmbeat_monitor.state import AzureTableStore


QUIET_SCHEDULE = "0 0 0 1 1 *"
# A grace must span two check periods (settings.py); with a yearly timer, two years.
QUIET_GRACE = str(2 * 366 * 24 * 3600)


@functools.cache
def real_app():
    app_dir = find_app_dir()
    return describe(load_app_module(app_dir, "real_function_app").app, app_dir)


def monitor_settings(azurite, table_name: str, smtp: SmtpServer | None) -> dict:
    """The app settings of CONTRACT.md for a local run on Azurite and an SMTP sink."""
    settings = {
        KEY_SETTING: SAMPLE_KEY,
        "LVMBEAT_STORAGE_CONNECTION_STRING": azurite.connection_string,
        "LVMBEAT_TABLE_NAME": table_name,
        "LVMBEAT_CHECK_SCHEDULE": QUIET_SCHEDULE,
        "LVMBEAT_SEND_EMAIL_AFTER": QUIET_GRACE,
        "LVMBEAT_SITE_NAME": "LCO",
        "LVMBEAT_EMAIL_RECIPIENTS": "LVM Critical <lvm-critical@localhost>",
        "LVMBEAT_EMAIL_FROM_ADDRESS": "lvmbeat monitor <lvmbeat@localhost>",
    }
    if smtp is not None:
        settings |= {
            "LVMBEAT_EMAIL_BACKEND": "smtp",
            "LVMBEAT_EMAIL_HOST": smtp.host,
            "LVMBEAT_EMAIL_PORT": str(smtp.port),
            "LVMBEAT_EMAIL_TLS": "false",
        }
    return settings


def test_every_route_of_the_real_app_is_served_behind_its_auth_level(
    start_host, azurite, table_name
):
    app = real_app()
    host = start_host(app.app_dir, env=monitor_settings(azurite, table_name, None))
    assert app.http_functions, "the function app declares no HTTP trigger"
    with httpx.Client(base_url=host.url, timeout=10) as client:
        for function in app.http_functions:
            path = "/" + "/".join(p for p in (app.route_prefix, function.route) if p)
            path = re.sub(r"\{[^}]+\}", "up", path)
            method = sorted(function.methods or {"GET"})[0]
            response = client.request(method, path)
            if function.auth_level is AuthLevel.ANONYMOUS:
                assert response.status_code < 500, (function.name, response.text)
                assert response.status_code not in (401, 404, 405), function.name
            else:
                assert response.status_code == 401, (function.name, response.text)


def test_the_real_app_reports_the_cli_version(start_host, azurite, table_name):
    host = start_host(
        real_app().app_dir, env=monitor_settings(azurite, table_name, None)
    )
    cli = subprocess.run(
        [sys.executable, "-m", "lvmbeat", "--version"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[-1]
    assert httpx.get(f"{host.url}/version", timeout=10).json() == {"version": cli}


async def disable_monitoring(settings: dict[str, str]) -> None:
    service = MonitorService(
        load_settings(settings), AzureTableStore.from_settings(load_settings(settings))
    )
    await service.disable(None)
    await service.close()


def timer_runs(host: HostProcess, name: str) -> int:
    return len(re.findall(rf"function={re.escape(name)} timer ", host.log_text()))


def test_two_hosts_on_one_table_send_one_alert_and_one_all_clear(
    start_host, azurite, table_name, smtp_server, eventually
):
    app = real_app()
    routes = {function.route for function in app.http_functions}
    if "heartbeat" not in routes or not app.timer_functions:
        pytest.skip("the monitor's function app (heartbeat route, timer) is not here")
    (check,) = app.timer_functions
    settings = monitor_settings(azurite, table_name, smtp_server) | {
        "LVMBEAT_CHECK_SCHEDULE": "* * * * * *",
        "LVMBEAT_SEND_EMAIL_AFTER": "2",
    }
    # Monitoring starts disabled, so however long the second host takes to start, no
    # check can declare an outage before this test's first heartbeat and /enable.
    asyncio.run(disable_monitoring(settings))
    hosts = [start_host(app.app_dir, env=settings) for _ in range(2)]
    key = {"x-functions-key": SAMPLE_KEY}
    sink = smtp_server.sink

    def settle(*, beating: bool) -> None:
        """Let both hosts run three more checks (with heartbeats going on, if
        `beating`, so the silence never reaches the alert again)."""
        after = [timer_runs(h, check.name) for h in hosts]

        def settled() -> bool:
            if beating:
                httpx.get(f"{hosts[1].url}/heartbeat", headers=key).raise_for_status()
            return all(
                timer_runs(h, check.name) >= n + 3
                for h, n in zip(hosts, after, strict=True)
            )

        eventually(settled, what="three more checks on each host")

    def subjects() -> list[str]:
        return [str(mail.message["Subject"]) for mail in sink.messages]

    assert httpx.get(f"{hosts[0].url}/heartbeat", headers=key).status_code == 200
    assert httpx.post(f"{hosts[1].url}/enable", headers=key).status_code == 200
    sink.wait_for(1, timeout=30)
    settle(beating=False)
    assert len(subjects()) == 1 and "LCO internet is down" in subjects()[0]

    assert httpx.post(f"{hosts[1].url}/heartbeat", headers=key).status_code == 200
    sink.wait_for(2, timeout=30)
    settle(beating=True)
    assert len(subjects()) == 2 and subjects()[1].startswith("RESOLVED")


async def test_storage_hung_under_status_leaves_version_answering(
    start_host, azurite, table_name
):
    """Storage stops answering (a relay in front of Azurite holds every request):
    `/status` calls hang, up to their limit; `/version`, which needs no storage, still
    answers at once; when storage answers again, so does `/status`."""
    relay = BrokerProxy(target_port=azurite.port)
    await relay.open()
    settings = monitor_settings(azurite, table_name, None)
    settings["LVMBEAT_STORAGE_CONNECTION_STRING"] = azurite.connection_string.replace(
        f":{azurite.port}/", f":{relay.port}/"
    )
    try:
        # Started from a thread: the relay runs on this loop while the host starts.
        host = await asyncio.to_thread(start_host, real_app().app_dir, env=settings)
        async with httpx.AsyncClient(base_url=host.url, timeout=30) as client:
            assert (await client.get("/status")).status_code == 200  # table made
            relay.hold()
            statuses = [
                asyncio.create_task(client.get("/status"))
                for _ in range(CALLS_PER_FUNCTION + 1)
            ]
            done, hung = await asyncio.wait(
                statuses, return_when=asyncio.FIRST_COMPLETED
            )
            (refused,) = done  # the one over the limit, at once
            assert refused.result().status_code == 503
            await relay.holding.wait()  # the others wait on storage
            version = await client.get("/version")
            assert version.status_code == 200
            assert not any(task.done() for task in hung)
            relay.release()
            answers = await asyncio.gather(*hung)
        assert {answer.status_code for answer in answers} == {200}
    finally:
        relay.release()
        await relay.cut()
