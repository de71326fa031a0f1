"""What each trigger does, adapted from HTTP or the timer to the service.

function_app.py holds only the decorators (routes, methods, auth levels, schedule);
the adapters live here, next to the code they call, and are tested without Azure.
"""

from __future__ import annotations

import logging

import azure.functions as func

from lvmbeat_monitor import __version__
from lvmbeat_monitor.clock import iso_z
from lvmbeat_monitor.model import NoticeKind
from lvmbeat_monitor.responses import (
    BadRequest,
    NotFound,
    error_response,
    guarded,
    json_response,
)
from lvmbeat_monitor.runtime import service
from lvmbeat_monitor.service import Contended


log = logging.getLogger(__name__)

# A timed disable longer than this is surely a typo; /disable without minutes exists.
MAX_DISABLE_MINUTES = 7 * 24 * 60


@guarded
def heartbeat(req: func.HttpRequest) -> func.HttpResponse:
    at = service().heartbeat()
    return json_response({"message": "Heartbeat received.", "last_seen": iso_z(at)})


@guarded
def status(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(service().status())


@guarded
def enable(req: func.HttpRequest) -> func.HttpResponse:
    result = service().enable()
    return json_response({"message": result.message, "enabled": True})


@guarded
def disable(req: func.HttpRequest) -> func.HttpResponse:
    minutes = _minutes(req.params.get("minutes"))
    result = service().disable(minutes)
    return json_response(
        {
            "message": result.message,
            "enabled": False,
            "disabled_until": iso_z(result.state.disabled_until),
        }
    )


@guarded
def email_test(req: func.HttpRequest) -> func.HttpResponse:
    service().email_test()  # MailError -> 502 with the reason
    return json_response({"message": "Email sent."})


@guarded
def notify(req: func.HttpRequest) -> func.HttpResponse:
    name = req.route_params.get("kind", "")
    try:
        kind = NoticeKind(name)
    except ValueError:
        raise NotFound(
            f"There is no notification {name!r}; use /notify/up or /notify/down."
        ) from None
    force = _flag("force", req.params.get("force"))
    result = service().notify(kind, force=force)
    if result.error is not None:
        return error_response(
            502,
            f"{result.message}: {result.error} It stays pending; every check "
            "retries it.",
        )
    return json_response(
        {"message": result.message, "sent": result.sent, "active": result.active}
    )


@guarded
def version(req: func.HttpRequest) -> func.HttpResponse:
    return json_response({"version": __version__})


def check(timer: func.TimerRequest) -> None:
    """The timer: one check. It logs what went wrong and never raises, so the host
    keeps its schedule."""
    past_due = bool(getattr(timer, "past_due", False))
    try:
        result = service().check(past_due=past_due)
    except Contended as error:
        log.warning("Check skipped: %s", error)
        return
    except Exception:  # noqa: BLE001 - a timer must log and go on; cause in the log
        log.exception("Check failed (past_due=%s); the next run will retry.", past_due)
        return
    if result.error:
        log.error("Check %s: sending failed: %s", result.outcome, result.error)
    elif result.sent:
        log.info("Check %s: sent the %s notification.", result.outcome, result.sent)
    else:
        log.debug("Check: %s", result.outcome)


def _minutes(raw: str | None) -> int | None:
    if raw is None or raw.strip() == "":
        return None
    try:
        minutes = int(raw)
    except ValueError:
        raise BadRequest(
            f"minutes={raw!r} is not a whole number of minutes; e.g. "
            "/disable?minutes=60"
        ) from None
    if not 1 <= minutes <= MAX_DISABLE_MINUTES:
        raise BadRequest(
            f"minutes={minutes} is out of range; use 1 to {MAX_DISABLE_MINUTES}, or "
            "/disable without minutes to disable until /enable."
        )
    return minutes


def _flag(name: str, raw: str | None) -> bool:
    if raw is None:
        return False
    lowered = raw.strip().lower()
    if lowered in {"", "1", "true", "yes", "on"}:
        return lowered != ""
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise BadRequest(f"{name}={raw!r} is not true or false.")
