"""Azure Functions entry point (Python v2 model): the table of contents, no logic.

Each trigger states its route, methods and auth level (function key on everything that
writes or sends) and hands over to lvmbeat_monitor.handlers. Triggers are `async def`:
the Python worker runs them on its event loop (Microsoft's "Improve throughput
performance of Python apps in Azure Functions": async functions avoid the worker's
thread pool), and every storage and mail call awaits. Routes sit at the site
root (host.json: routePrefix ""). The timer's schedule is the app setting
LVMBEAT_CHECK_SCHEDULE.
"""

from __future__ import annotations

import azure.functions as func

from lvmbeat_monitor import handlers


app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

KEYED = func.AuthLevel.FUNCTION
OPEN = func.AuthLevel.ANONYMOUS


@app.route(route="heartbeat", methods=["GET", "POST"], auth_level=KEYED)
async def heartbeat(req: func.HttpRequest) -> func.HttpResponse:
    return await handlers.heartbeat(req)


@app.route(route="status", methods=["GET"], auth_level=OPEN)
async def status(req: func.HttpRequest) -> func.HttpResponse:
    return await handlers.status(req)


@app.route(route="enable", methods=["GET", "POST"], auth_level=KEYED)
async def enable(req: func.HttpRequest) -> func.HttpResponse:
    return await handlers.enable(req)


@app.route(route="disable", methods=["GET", "POST"], auth_level=KEYED)
async def disable(req: func.HttpRequest) -> func.HttpResponse:
    return await handlers.disable(req)


@app.route(route="email-test", methods=["GET", "POST"], auth_level=KEYED)
async def email_test(req: func.HttpRequest) -> func.HttpResponse:
    return await handlers.email_test(req)


@app.route(route="slack-test", methods=["GET", "POST"], auth_level=KEYED)
async def slack_test(req: func.HttpRequest) -> func.HttpResponse:
    return await handlers.slack_test(req)


@app.route(route="webhook-test", methods=["GET", "POST"], auth_level=KEYED)
async def webhook_test(req: func.HttpRequest) -> func.HttpResponse:
    return await handlers.webhook_test(req)


@app.route(route="notify/{kind}", methods=["GET", "POST"], auth_level=KEYED)
async def notify(req: func.HttpRequest) -> func.HttpResponse:
    return await handlers.notify(req)


@app.route(route="version", methods=["GET"], auth_level=OPEN)
async def version(req: func.HttpRequest) -> func.HttpResponse:
    return await handlers.version(req)


@app.route(route="history", methods=["GET"], auth_level=OPEN)
async def history(req: func.HttpRequest) -> func.HttpResponse:
    return await handlers.history(req)


# The status page at the site root. An empty route would fall back to the function's
# name (Azure: route "" or none means the function name); an optional segment with
# routePrefix "" in host.json makes the root match, and literal routes above still win
# (Microsoft's "Customize the HTTP endpoint", functions-bindings-http-webhook-trigger;
# azure-functions-host PR 1102 "Allow HTTP functions to be invoked at site root").
# The handler answers 404 when the segment is given.
@app.route(route="{page?}", methods=["GET"], auth_level=OPEN)
async def page(req: func.HttpRequest) -> func.HttpResponse:
    return await handlers.page(req)


# use_monitor: Azure records schedule occurrences in AzureWebJobsStorage, so past_due
# is reported after a restart (by default it is not for sub-minute schedules). The
# check logs it; its rules need no flag: every check records itself, so a missed run
# shows as a gap (decide.py).
@app.timer_trigger(
    schedule="%LVMBEAT_CHECK_SCHEDULE%",
    arg_name="timer",
    run_on_startup=False,
    use_monitor=True,
)
async def check(timer: func.TimerRequest) -> None:
    await handlers.check(timer)
