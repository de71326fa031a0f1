"""A function app for the local host's tests: every shape of trigger the host serves.

It uses the same decorators as the real monitor: `async def` handlers, a route
parameter, the two auth levels, a handler that raises, one that stays hung until
released, and a timer whose schedule is a `%SETTING%` and that records each run to a
JSON-lines file.
"""

from __future__ import annotations

import asyncio
import json
import os
import time

import azure.functions as func


app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

_released = asyncio.Event()


def _json(value: object, status: int = 200) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(value), status_code=status, mimetype="application/json"
    )


@app.route(route="echo", methods=["GET", "POST", "PUT"])
async def echo(req: func.HttpRequest) -> func.HttpResponse:
    """Sync, function level: returns the request as the function saw it."""
    return _json(
        {
            "method": req.method,
            "url": req.url,
            "params": dict(req.params),
            "route_params": dict(req.route_params),
            "headers": {k.lower(): v for k, v in req.headers.items()},
            "body": req.get_body().decode(),
        }
    )


@app.route(route="notify/{kind}", methods=["GET", "POST"])
async def notify(req: func.HttpRequest) -> func.HttpResponse:
    """Async, function level, with a route parameter."""
    return _json({"kind": req.route_params["kind"], "force": req.params.get("force")})


@app.route(route="report", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def report(req: func.HttpRequest) -> func.HttpResponse:
    """Anonymous, with its own status, header and media type."""
    return func.HttpResponse(
        "site,state\nLCO,up\n",
        status_code=203,
        headers={"X-Lvm-Site": "LCO"},
        mimetype="text/csv",
    )


@app.route(route="setting/{name}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def setting(req: func.HttpRequest) -> func.HttpResponse:
    """What the app reads from its environment."""
    return _json({"value": os.environ.get(req.route_params["name"])})


@app.route(route="fail", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def fail(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("table password is hunter2")


@app.route(route="hold", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def hold(req: func.HttpRequest) -> func.HttpResponse:
    """Hung until /release, like a call to storage that stopped answering."""
    try:
        await asyncio.wait_for(_released.wait(), timeout=20)
    except TimeoutError:
        return _json({"released": False})
    return _json({"released": True})


@app.route(route="release", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def release(req: func.HttpRequest) -> func.HttpResponse:
    """Wakes every /hold waiting now; later ones wait again."""
    _released.set()
    _released.clear()
    return _json({"released": True, "body_bytes": len(req.get_body())})


@app.timer_trigger(
    schedule="%SAMPLE_TIMER_SCHEDULE%", arg_name="timer", use_monitor=False
)
async def tick(timer: func.TimerRequest) -> None:
    """Records each run; the first one lasts SAMPLE_TIMER_FIRST_RUN_SECONDS and raises
    when SAMPLE_TIMER_FAIL_FIRST is set."""
    path = os.environ.get("SAMPLE_TIMER_LOG")
    if not path:
        return
    with open(path, "a") as records:
        runs = sum(1 for _ in open(path)) // 2
        start = {"phase": "start", "at": time.time(), "past_due": timer.past_due}
        records.write(json.dumps(start) + "\n")
        records.flush()
        if runs == 0:
            # The run's own work (a slow check), not a wait for something.
            await asyncio.sleep(
                float(os.environ.get("SAMPLE_TIMER_FIRST_RUN_SECONDS", "0"))
            )
        records.write(
            json.dumps(
                {"phase": "end", "at": time.time(), "status": timer.schedule_status}
            )
            + "\n"
        )
    if runs == 0 and os.environ.get("SAMPLE_TIMER_FAIL_FIRST"):
        raise RuntimeError("the first check failed")
