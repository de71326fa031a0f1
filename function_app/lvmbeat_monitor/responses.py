"""JSON answers and the one place where errors become HTTP statuses.

Every route answers JSON; an error is `{"error": "..."}` with a fitting status and never
a stack trace (that goes to the log, which never holds a secret either).
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from typing import Any

import azure.functions as func

from lvmbeat_monitor.errors import DeliveryError, ErrorKind
from lvmbeat_monitor.service import Contended
from lvmbeat_monitor.settings import SettingsError
from lvmbeat_monitor.state import StorageUnavailable


log = logging.getLogger(__name__)


class BadRequest(ValueError):
    """The request's parameters are wrong; the message says which and why."""


class NotFound(LookupError):
    """No such thing at this route."""


def json_response(body: dict[str, Any], status: int = 200) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body),
        status_code=status,
        mimetype="application/json",
        headers={"Cache-Control": "no-store"},
    )


def error_response(status: int, message: str) -> func.HttpResponse:
    return json_response({"error": message}, status)


# Exception type -> HTTP status and what an anonymous caller may read, most specific
# first. Keyed callers get the full message; anonymous ones a fixed sentence, because
# a message may name a server, a user, a recipient or a setting's value.
_STATUS: tuple[tuple[type[Exception], int, str], ...] = (
    (BadRequest, 400, ""),  # about the caller's own request: always shown
    (NotFound, 404, ""),
    (DeliveryError, 502, "A notification could not be sent."),
    (StorageUnavailable, 503, "The monitor cannot reach its storage right now."),
    (Contended, 503, "The monitor is busy; try again in a few seconds."),
    # Misconfigured: unavailable until an operator fixes the named setting.
    (SettingsError, 503, "The monitor is misconfigured; its log names the setting."),
)

Handler = Callable[[func.HttpRequest], Awaitable[func.HttpResponse]]


def guarded(*, anonymous: bool) -> Callable[[Handler], Handler]:
    """Turn the monitor's own errors into JSON answers (reduced to a fixed sentence
    for `anonymous` routes), anything else into a 500 whose details stay in the log."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def wrapper(req: func.HttpRequest) -> func.HttpResponse:
            where = _path(req.url)
            try:
                return await handler(req)
            except Exception as error:  # noqa: BLE001 - translated below, cause logged
                for kind, status, public in _STATUS:
                    if isinstance(error, kind):
                        status = _refine(error, status)
                        level = logging.WARNING if status < 500 else logging.ERROR
                        log.log(level, "%s %s: %s", req.method, where, error)
                        shown = public if anonymous and public else str(error)
                        return error_response(status, shown)
                log.exception("%s %s failed unexpectedly", req.method, where)
                return error_response(
                    500, "Internal error; the function app's log has the details."
                )

        return wrapper

    return decorate


def _refine(error: Exception, status: int) -> int:
    """A channel that is not configured is unavailable until a setting is fixed
    (503), not a relay that failed (502)."""
    if isinstance(error, DeliveryError) and error.kind is ErrorKind.MISCONFIGURED:
        return 503
    return status


def _path(url: str) -> str:
    """The path only, for the log: the query may hold the function key (`code=`)."""
    try:
        return urlsplit(url).path
    except ValueError:  # e.g. "Invalid IPv6 URL": the log still gets a line
        return "(unreadable URL)"
