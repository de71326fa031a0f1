"""What each trigger does, adapted from HTTP or the timer to the service.

function_app.py holds only the decorators (routes, methods, auth levels, schedule);
the adapters live here, next to the code they call, and are tested without Azure.
Every adapter is a coroutine: the Functions Python worker awaits `async def`
functions on its event loop, so storage and mail calls hold no worker thread.
"""

from __future__ import annotations

import logging
import re

import azure.functions as func

from lvmbeat_monitor import __version__
from lvmbeat_monitor.clock import iso_z
from lvmbeat_monitor.history import DEFAULT_RETENTION_DAYS, history_json
from lvmbeat_monitor.messages import subject_for
from lvmbeat_monitor.model import NoticeKind
from lvmbeat_monitor.page import PAGE_DAYS, refresh_period, render_page
from lvmbeat_monitor.report import ReportRefused, parse_report
from lvmbeat_monitor.responses import (
    BadRequest,
    NotFound,
    error_response,
    guarded,
    json_response,
)
from lvmbeat_monitor.runtime import service
from lvmbeat_monitor.service import CheckFailed, Contended


log = logging.getLogger(__name__)

# A timed disable longer than this is surely a typo; /disable without minutes exists.
MAX_DISABLE_MINUTES = 7 * 24 * 60
# /history?days= (CONTRACT: 1 to 400).
MAX_HISTORY_DAYS = DEFAULT_RETENTION_DAYS
# ASCII digits only: int() would also take "+7", "1_0" and other scripts' digits.
WHOLE_NUMBER = re.compile(r"[0-9]{1,6}")

open_route = guarded(anonymous=True)
keyed_route = guarded(anonymous=False)


@keyed_route
async def heartbeat(req: func.HttpRequest) -> func.HttpResponse:
    """Record the heartbeat, with the actor's report when the body carries a valid
    one. A refused report never costs the heartbeat: it is recorded all the same and
    the answer names the refused field (`report_error`)."""
    refused: ReportRefused | None = None
    try:
        report = parse_report(req.get_body() or b"")
    except ReportRefused as error:
        report, refused = None, error
    at = await service().heartbeat(report)
    answer = {"message": "Heartbeat received.", "last_seen": iso_z(at)}
    if refused is not None:
        log.warning("Heartbeat recorded; its report was refused: %s", refused)
        answer["report_error"] = (
            f"report refused, field {refused.field!r}: {refused.reason}. The "
            "heartbeat was recorded without it."
        )
    return json_response(answer)


@open_route
async def status(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(await service().status())


@keyed_route
async def enable(req: func.HttpRequest) -> func.HttpResponse:
    result = await service().enable()
    return json_response({"message": result.message, "enabled": True})


@keyed_route
async def disable(req: func.HttpRequest) -> func.HttpResponse:
    minutes = _minutes(req.params.get("minutes"))
    result = await service().disable(minutes)
    until = result.state.disabled_until if minutes is not None else None
    return json_response(
        {
            "message": result.message,
            "enabled": False,
            "disabled_until": iso_z(until),
        }
    )


@keyed_route
async def email_test(req: func.HttpRequest) -> func.HttpResponse:
    await _send_test("email")
    return json_response({"message": "Email sent."})


@keyed_route
async def slack_test(req: func.HttpRequest) -> func.HttpResponse:
    await _send_test("slack")
    return json_response({"message": "Slack message sent."})


@keyed_route
async def webhook_test(req: func.HttpRequest) -> func.HttpResponse:
    await _send_test("webhook")
    return json_response({"message": "Webhook called."})


@keyed_route
async def notify(req: func.HttpRequest) -> func.HttpResponse:
    name = req.route_params.get("kind", "")
    try:
        kind = NoticeKind(name)
    except ValueError:
        raise NotFound(
            f"There is no notification {name!r}; use /notify/up or /notify/down."
        ) from None
    force = _flag("force", req.params.get("force"))
    monitor = service()
    result = await monitor.notify(kind, force=force)
    if result.notice is None:
        return json_response(
            {"message": result.message, "sent": False, "active": result.active}
        )
    failed = [attempt for attempt in result.sent if attempt.error is not None]
    if failed:
        reasons = "; ".join(f"{a.channel}: {a.error}" for a in failed)
        return error_response(
            502,
            f"Sending the {kind} notification failed ({reasons}). It stays pending; "
            "every check retries it.",
        )
    if result.queued:
        return json_response(
            {
                "message": f"Queued: the {kind} notification goes out on "
                f"{', '.join(result.queued)} after the notification being sent "
                "there now; the next check delivers it.",
                "sent": False,
                "queued": list(result.queued),
                "active": result.active,
            },
            status=202,
        )
    subject = subject_for(result.notice, monitor.settings.site_name)
    return json_response(
        {"message": f"Sent: {subject}.", "sent": True, "active": result.active}
    )


@open_route
async def version(req: func.HttpRequest) -> func.HttpResponse:
    return json_response({"version": __version__})


@open_route
async def history(req: func.HttpRequest) -> func.HttpResponse:
    days = _days(req.params.get("days"))
    monitor = service()
    found = await monitor.history(days)
    return json_response(history_json(found, monitor.clock.now(), days))


@open_route
async def page(req: func.HttpRequest) -> func.HttpResponse:
    """The status page at the site root. Its route has an optional segment (see
    function_app.py); anything in it is a path that does not exist."""
    if req.route_params.get("page"):
        raise NotFound("No such page; the status page is at /.")
    monitor = service()
    status_now = await monitor.status()
    found = await monitor.history(PAGE_DAYS)
    refresh = refresh_period(monitor.settings.check_period)
    document = render_page(status_now, found, monitor.clock.now(), refresh=refresh)
    return func.HttpResponse(
        document,
        status_code=200,
        mimetype="text/html",
        charset="utf-8",
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )


async def check(timer: func.TimerRequest) -> None:
    """The timer: one check. A check that fails (storage, settings, a delivery)
    raises after logging, so the invocation counts as failed in Azure Monitor; the
    host still runs the next one on schedule (a failed timer run is not retried)."""
    past_due = bool(getattr(timer, "past_due", False))
    try:
        result = await service().check(past_due=past_due)
    except (CheckFailed, Contended) as error:
        log.error("%s", error)
        raise
    except Exception:
        log.exception("Check failed (past_due=%s); the next run tries again.", past_due)
        raise
    for attempt in result.sent:
        log.info("Check %s: delivered %s.", result.outcome, attempt.channel)
    log.debug("Check: %s", result.outcome)


async def _send_test(channel: str) -> None:
    """DeliveryError -> 502 with the reason, or 503 naming the setting when the
    channel is not configured (responses.py)."""
    await service().send_test(channel)


def _minutes(raw: str | None) -> int | None:
    if raw is None:
        return None
    if not WHOLE_NUMBER.fullmatch(raw.strip()):
        raise BadRequest(
            f"minutes={raw!r} is not a whole number of minutes; e.g. "
            "/disable?minutes=60, or /disable alone to disable until /enable."
        )
    minutes = int(raw)
    if not 1 <= minutes <= MAX_DISABLE_MINUTES:
        raise BadRequest(
            f"minutes={minutes} is out of range; use 1 to {MAX_DISABLE_MINUTES}, or "
            "/disable without minutes to disable until /enable."
        )
    return minutes


def _days(raw: str | None) -> int:
    """`?days=N` for /history: whole days, 1 to MAX_HISTORY_DAYS, default 30."""
    if raw is None:
        return PAGE_DAYS
    if not WHOLE_NUMBER.fullmatch(raw.strip()):
        raise BadRequest(
            f"days={raw!r} is not a whole number of days; e.g. /history?days=30."
        )
    days = int(raw)
    if not 1 <= days <= MAX_HISTORY_DAYS:
        raise BadRequest(
            f"days={days} is out of range; use 1 to {MAX_HISTORY_DAYS} "
            f"(default {PAGE_DAYS})."
        )
    return days


def _flag(name: str, raw: str | None) -> bool:
    """`?force`, `?force=` and `?force=true` mean true; `?force=false` false."""
    if raw is None:
        return False
    lowered = raw.strip().lower()
    if lowered in {"", "1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise BadRequest(f"{name}={raw!r} is not true or false.")
