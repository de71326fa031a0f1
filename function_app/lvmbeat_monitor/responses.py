"""JSON answers and the one place where errors become HTTP statuses.

Every route answers JSON; an error is `{"error": "..."}` with a fitting status and never
a stack trace (that goes to the log, which never holds a secret either).
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from urllib.parse import urlsplit

from typing import Any

import azure.functions as func

from lvmbeat_monitor.mail import MailError
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


# Exception type -> HTTP status, most specific first.
_STATUS: tuple[tuple[type[Exception], int], ...] = (
    (BadRequest, 400),
    (NotFound, 404),
    (MailError, 502),
    (StorageUnavailable, 503),
    (Contended, 503),
    # Misconfigured: unavailable until an operator fixes the named setting.
    (SettingsError, 503),
)


def guarded(
    handler: Callable[[func.HttpRequest], func.HttpResponse],
) -> Callable[[func.HttpRequest], func.HttpResponse]:
    """Turn the monitor's own errors into JSON answers; anything else into a 500
    whose details stay in the log."""

    @functools.wraps(handler)
    def wrapper(req: func.HttpRequest) -> func.HttpResponse:
        where = _path(req.url)
        try:
            return handler(req)
        except Exception as error:  # noqa: BLE001 - translated below, cause logged
            for kind, status in _STATUS:
                if isinstance(error, kind):
                    level = logging.WARNING if status < 500 else logging.ERROR
                    log.log(level, "%s %s: %s", req.method, where, error)
                    return error_response(status, str(error))
            log.exception("%s %s failed unexpectedly", req.method, where)
            return error_response(
                500, "Internal error; the function app's log has the details."
            )

    return wrapper


def _path(url: str) -> str:
    """The path only, for the log: the query may hold the function key (`code=`)."""
    try:
        return urlsplit(url).path
    except ValueError:  # e.g. "Invalid IPv6 URL": the log still gets a line
        return "(unreadable URL)"
