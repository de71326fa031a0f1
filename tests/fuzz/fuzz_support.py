"""What a sound answer of the monitor is, and the inputs thrown at it.

Imported by the fuzz tests (conftest.py holds the fixtures).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from urllib.parse import quote

from hypothesis import strategies as st


def examples(count: int) -> int:
    """`count` examples, times LVMBEAT_FUZZ_SCALE (default 1): `make test` stays
    fast, and `LVMBEAT_FUZZ_SCALE=50 .venv/bin/pytest tests/fuzz` hunts longer."""
    return count * max(1, int(os.environ.get("LVMBEAT_FUZZ_SCALE", "1")))


# The only 5xx the contract allows: 502 mail backend failed, 503 storage unreachable.
CONTRACT_5XX = frozenset({502, 503})
TRACE_MARKERS = ("Traceback", 'File "')

# What the contract declares; a new route must be added here to be fuzzed.
ROUTES = {
    "heartbeat": "/heartbeat",
    "status": "/status",
    "enable": "/enable",
    "disable": "/disable",
    "email_test": "/email-test",
    "slack_test": "/slack-test",
    "webhook_test": "/webhook-test",
    "notify": "/notify/{kind}",
    "version": "/version",
    "history": "/history",
    "page": "/{page?}",  # the status page (HTML) at the site root
}
# Routes whose successful answer is an HTML page rather than JSON (errors stay JSON).
HTML_ROUTES = frozenset({"page"})


def assert_sound_answer(
    status: int,
    body: bytes,
    *,
    secrets: Iterable[str],
    echoed: str = "",
    has_body: bool = True,
    html: bool = False,
) -> None:
    """No 5xx outside the contract's, JSON always, `{"error": ...}` on errors, no
    traceback and no secret. `echoed` is the request's own text: a marker the caller
    sent may come back quoted in an error, which is no leak."""
    text = body.decode("utf-8", "replace")
    assert status < 500 or status in CONTRACT_5XX, f"{status}: {text}"
    for secret in secrets:
        assert secret not in text, f"a secret is in the answer ({status}): {text}"
    for marker in TRACE_MARKERS:
        assert marker not in text or marker in echoed, f"a traceback: {text}"
    if not has_body:
        return
    if html:
        assert status == 200 and text.startswith("<!doctype html>"), text[:200]
        return
    try:
        document = json.loads(body)
    except ValueError:
        raise AssertionError(f"not JSON ({status}): {text!r}") from None
    assert isinstance(document, dict), f"not a JSON object ({status}): {text}"
    if status >= 400:
        assert isinstance(document.get("error"), str) and document["error"], (
            f"an error without its message ({status}): {text}"
        )


# --- inputs ---------------------------------------------------------------------

# Values the handlers parse (minutes, force) near their edges, then anything.
param_values = st.one_of(
    st.sampled_from(
        [
            "",
            " ",
            "0",
            "1",
            "-1",
            "60",
            "10080",
            "10081",
            "1e3",
            "0x10",
            "1_0",
            "٣",
            "nan",
            "9" * 5000,
            "true",
            "TRUE",
            "yes",
            "on",
            "off",
            "no",
            "false",
            " true ",
            "up",
            "down",
        ]
    ),
    st.integers(min_value=-(10**9), max_value=10**9).map(str),
    st.text(max_size=30),
)
param_names = st.one_of(
    st.sampled_from(["minutes", "force", "kind", "Minutes", "FORCE", "code"]),
    st.text(min_size=1, max_size=10),
)
query_pairs = st.lists(st.tuples(param_names, param_values), max_size=4)

notify_kinds = st.one_of(
    st.sampled_from(["up", "down", "UP", "Down", "", "up ", "sideways", "%FF"]),
    st.text(max_size=12),
)

bodies = st.one_of(
    st.just(b""),
    st.binary(max_size=300),
    st.sampled_from([b"{}", b'{"minutes": 5}', b"null", b"\xff\xfe\x00", b"[" * 500]),
)


def quoted_segment(text: str) -> str:
    return quote(text, safe="")
