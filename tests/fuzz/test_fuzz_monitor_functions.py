"""Any request, handed to each route's function as the Azure worker hands it (a
`func.HttpRequest` to the function `app.get_functions()` indexes), gets a JSON answer:
no 5xx but the contract's 502/503, `{"error": ...}` on errors, no traceback, no secret.

The monitor runs on a fresh Azurite table with the outbox mail backend; a second
service whose storage does not answer covers the 503 path. Azure itself filters
methods and keys before a function runs; here nothing does, so the functions also
see methods and parameters Azure would have refused.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlencode

import azure.functions as func
import pytest
from fuzz_support import (
    ROUTES,
    assert_sound_answer,
    bodies,
    examples,
    notify_kinds,
    query_pairs,
    quoted_segment,
)
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st


SUPPRESS = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]

methods = st.one_of(
    st.sampled_from(["GET", "POST", "get", "PUT", "DELETE", "HEAD", "OPTIONS", ""]),
    st.text(max_size=8),
)
headers = st.dictionaries(
    st.one_of(
        st.sampled_from(["x-functions-key", "Content-Type", "Host", "Accept"]),
        st.text(min_size=1, max_size=12),
    ),
    st.text(max_size=30),
    max_size=4,
)


@dataclass(frozen=True)
class Fields:
    """One request's parts; `kind` fills `{kind}` in the route when it has one."""

    method: str
    pairs: list[tuple[str, str]]
    kind: str
    route_params: dict[str, str]
    url: str | None  # None: the request's real URL
    headers: dict[str, str]
    body: bytes

    def request(self, route: str) -> func.HttpRequest:
        route_params = dict(self.route_params)
        path = route
        if "{kind}" in route:
            route_params["kind"] = self.kind
            path = route.replace("{kind}", quoted_segment(self.kind))
        url = self.url
        if url is None:
            url = f"http://127.0.0.1:7071{path}?{urlencode(self.pairs)}"
        return func.HttpRequest(
            self.method,
            url,
            headers=self.headers,
            params=dict(self.pairs),
            route_params=route_params,
            body=self.body,
        )


fields = st.builds(
    Fields,
    method=methods,
    pairs=query_pairs,
    kind=notify_kinds,
    route_params=st.dictionaries(st.text(max_size=6), st.text(max_size=6)),
    url=st.one_of(
        st.none(),
        st.sampled_from(["http://[abc/x", "", "not a url", "http://h:99999/x"]),
        st.text(max_size=40),
    ),
    headers=headers,
    body=bodies,
)

# Found by fuzzing: the error handler's log line parsed the URL before its `try`, so
# an unreadable URL escaped as ValueError instead of an answer.
UNREADABLE_URL = Fields("GET", [("minutes", "x")], "up", {}, "http://[abc/x", {}, b"")


def _echoed(request: func.HttpRequest) -> str:
    """Everything the caller wrote, for markers an error may quote back."""
    parts = [request.method, request.url, *request.params.values()]
    parts += [*request.route_params.values(), *request.headers.values()]
    return " ".join(parts)


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """One event loop for the module: the services' storage clients (aiohttp) stay
    bound to the loop they first ran on, as in the Functions worker."""
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def _answer(function, request: func.HttpRequest, secrets, loop) -> func.HttpResponse:
    response = loop.run_until_complete(function(request))
    assert isinstance(response, func.HttpResponse)
    html = response.mimetype == "text/html"
    assert response.mimetype == "application/json" or (
        html and request.route_params.get("page") is None
    ), response.mimetype
    assert_sound_answer(
        response.status_code,
        response.get_body(),
        secrets=secrets.all(),
        echoed=_echoed(request),
        html=html,
    )
    return response


def test_every_route_of_the_contract_is_fuzzed(http_functions):
    served = {
        name: "/" + trigger["route"] for name, (_, trigger) in http_functions.items()
    }
    assert served == ROUTES


@pytest.mark.parametrize("name", sorted(ROUTES))
@settings(max_examples=examples(30), deadline=None, suppress_health_check=SUPPRESS)
@given(fields=fields)
@example(fields=UNREADABLE_URL)
def test_a_route_answers_any_request_in_json_without_secrets(
    http_functions, monitor_service, install, secrets, name, fields, loop
):
    install(monitor_service)
    function, trigger = http_functions[name]
    _answer(function, fields.request("/" + trigger["route"]), secrets, loop)


@pytest.mark.parametrize("name", sorted(ROUTES))
@settings(max_examples=examples(8), deadline=None, suppress_health_check=SUPPRESS)
@given(fields=fields)
def test_a_route_answers_any_request_in_json_while_storage_is_down(
    http_functions, unreachable_service, install, secrets, name, fields, loop
):
    install(unreachable_service)
    function, trigger = http_functions[name]
    response = _answer(function, fields.request("/" + trigger["route"]), secrets, loop)
    assert response.status_code != 200 or name in {"version", "email_test"}, (
        f"{name} answered 200 without its storage"
    )
