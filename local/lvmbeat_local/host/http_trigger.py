"""HTTP triggers over aiohttp: request -> func.HttpRequest -> function -> response.

Errors are JSON `{"error": ...}` (404 unknown route, 405 wrong method, 401 missing key,
408 a body that does not arrive in time, 413 a body over the cap, 503 a function at its
limit of calls, 500 when the function raises). A 500 never carries the traceback: that
goes to the log. One log line per request: function, method and path (no query: it may
carry `code=`), status and duration.
"""

from __future__ import annotations

import asyncio
import logging
import time

from typing import Any

import azure.functions as func
from aiohttp import web
from multidict import CIMultiDict

from lvmbeat_local.host.invoke import FunctionBusy, Invoker
from lvmbeat_local.host.keys import KEY_HEADER, KEY_QUERY_PARAMETER, KeyCheck
from lvmbeat_local.host.routes import Route, RouteTable


log = logging.getLogger("lvmbeat_local.host")

# Set by aiohttp from the body it sends; a function's own value would be wrong.
_HOP_BY_HOP = {"content-length", "transfer-encoding", "connection", "keep-alive"}


def json_error(status: int, message: str, **headers: str) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)


class HttpTriggers:
    """The aiohttp handler for every HTTP function of the app."""

    def __init__(
        self,
        table: RouteTable,
        keys: KeyCheck,
        invoker: Invoker,
        *,
        body_timeout: float,
    ) -> None:
        self.table = table
        self.keys = keys
        self.invoker = invoker
        self.body_timeout = body_timeout

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        started = time.perf_counter()
        name = "-"
        response: web.StreamResponse
        try:
            name, response = await self._dispatch(request)
        except web.HTTPException as error:  # aiohttp's own (body too large, ...)
            response = json_error(error.status, error.reason)
        except Exception:  # the host's own fault: logged in full, answered in JSON
            log.exception("The host failed on %s %s.", request.method, _logged(request))
            response = json_error(500, "The host failed; its log has the cause.")
        status = response.status
        duration_ms = (time.perf_counter() - started) * 1000
        log.info(
            "function=%s %s %s status=%d duration_ms=%.1f",
            name,
            request.method,
            _logged(request),
            status,
            duration_ms,
        )
        return response

    async def _dispatch(
        self, request: web.BaseRequest
    ) -> tuple[str, web.StreamResponse]:
        try:
            # Built from the Host header, which the client chooses.
            url = str(request.url)
        except ValueError:  # yarl: a port out of range, a name IDNA refuses, ...
            return "-", json_error(
                400,
                f"The Host header {request.headers.get('Host', '')!r} is not a valid "
                "host[:port].",
            )
        matches = self.table.match(request.path)
        if not matches:
            return "-", json_error(404, f"No function serves {request.path}.")
        allowed = [
            (route, params) for route, params in matches if route.allows(request.method)
        ]
        if not allowed:
            methods = sorted(
                {m for route, _ in matches for m in route.function.methods or ()}
            )
            return matches[0][0].function.name, json_error(
                405,
                f"{request.method} is not allowed on {request.path}; "
                f"use {', '.join(methods)}.",
                Allow=", ".join(methods),
            )
        route, route_params = allowed[0]
        function = route.function
        query = _single_values(request.query)
        # request.headers, not a plain dict: Azure matches the key header's name in
        # any letter case, and so does this lookup.
        if not self.keys.allows(function.auth_level, query, request.headers):
            return function.name, json_error(
                401,
                f"{request.path} needs the function key in the "
                f"'{KEY_QUERY_PARAMETER}' query parameter or the '{KEY_HEADER}' "
                "header.",
            )
        try:
            # Bounded twice: in size (the server's cap, 413) and in time, so a client
            # that trickles its body cannot hold a call open.
            async with asyncio.timeout(self.body_timeout):
                body = await request.read()
        except TimeoutError:
            return function.name, json_error(
                408,
                f"The request body did not arrive within {self.body_timeout:g} s.",
                Connection="close",
            )
        azure_request = func.HttpRequest(
            method=request.method,
            url=url,
            headers=_single_values(request.headers),
            params=query,
            route_params=route_params,
            body=body,
        )
        return function.name, await self._invoke(route, azure_request)

    async def _invoke(
        self, route: Route, azure_request: func.HttpRequest
    ) -> web.StreamResponse:
        function = route.function
        try:
            result = await self.invoker.call(
                function.name, function.handler, **{function.arg_name: azure_request}
            )
            return to_aiohttp(result)
        except FunctionBusy as busy:
            log.warning("%s", busy)
            return json_error(503, str(busy), **{"Retry-After": "1"})
        except Exception:  # the function's fault: logged in full, answered briefly
            log.exception(
                "Function %s raised while serving %s %s.",
                function.name,
                azure_request.method,
                route.path_template,
            )
            return json_error(
                500, f"Function {function.name} failed; the host log has the cause."
            )


def _logged(request: web.BaseRequest) -> str:
    """The path as sent, still percent-encoded: a decoded `%0A` would start a forged
    log line. Never the query, which may carry `code=`."""
    return request.rel_url.raw_path


def _single_values(multi: Any) -> dict[str, str]:
    """Repeated query parameters or headers joined by commas, as Azure passes them."""
    values: dict[str, str] = {}
    for key, value in multi.items():
        values[key] = f"{values[key]},{value}" if key in values else value
    return values


def to_aiohttp(result: Any) -> web.Response:
    """The function's func.HttpResponse as an aiohttp response (status, headers,
    type). The monitor returns nothing else; anything else is the function's fault."""
    if not isinstance(result, func.HttpResponse):
        raise TypeError(
            f"an HTTP function returned {type(result).__name__}; return a "
            "func.HttpResponse."
        )
    headers = CIMultiDict(
        (k, v) for k, v in result.headers.items() if k.lower() not in _HOP_BY_HOP
    )
    if "Content-Type" not in headers and result.mimetype:
        content_type = result.mimetype
        if result.charset and "charset" not in content_type:
            content_type += f"; charset={result.charset}"
        headers["Content-Type"] = content_type
    return web.Response(
        body=result.get_body(), status=result.status_code, headers=headers
    )
