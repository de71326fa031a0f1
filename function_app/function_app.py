"""Azure Functions entry point (Python v2 model): the table of contents, no logic.

Each trigger states its route, methods and auth level (function key on everything that
writes or sends) and hands over to lvmbeat_monitor.handlers. Routes sit at the site
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
def heartbeat(req: func.HttpRequest) -> func.HttpResponse:
    return handlers.heartbeat(req)


@app.route(route="status", methods=["GET"], auth_level=OPEN)
def status(req: func.HttpRequest) -> func.HttpResponse:
    return handlers.status(req)


@app.route(route="enable", methods=["GET", "POST"], auth_level=KEYED)
def enable(req: func.HttpRequest) -> func.HttpResponse:
    return handlers.enable(req)


@app.route(route="disable", methods=["GET", "POST"], auth_level=KEYED)
def disable(req: func.HttpRequest) -> func.HttpResponse:
    return handlers.disable(req)


@app.route(route="email-test", methods=["GET", "POST"], auth_level=KEYED)
def email_test(req: func.HttpRequest) -> func.HttpResponse:
    return handlers.email_test(req)


@app.route(route="notify/{kind}", methods=["GET", "POST"], auth_level=KEYED)
def notify(req: func.HttpRequest) -> func.HttpResponse:
    return handlers.notify(req)


@app.route(route="version", methods=["GET"], auth_level=OPEN)
def version(req: func.HttpRequest) -> func.HttpResponse:
    return handlers.version(req)


# use_monitor: Azure records schedule occurrences in AzureWebJobsStorage, so after a
# restart the first run reports past_due (by default it does not for sub-minute
# schedules); the check then counts silence from the monitor's return.
@app.timer_trigger(
    schedule="%LVMBEAT_CHECK_SCHEDULE%",
    arg_name="timer",
    run_on_startup=False,
    use_monitor=True,
)
def check(timer: func.TimerRequest) -> None:
    handlers.check(timer)
