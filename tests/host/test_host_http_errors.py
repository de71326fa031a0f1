"""A function that fails answers 500 in JSON, and a slow sync one blocks nobody."""

from __future__ import annotations

import asyncio

import httpx
import pytest


@pytest.mark.parametrize(
    ("route", "exception", "detail"),
    [
        ("/fail", "RuntimeError", "table password is hunter2"),
        ("/fail-async", "ValueError", "async secret detail"),
    ],
)
def test_a_function_that_raises_answers_500_json_and_the_log_has_the_cause(
    keyed_host, route, exception, detail
):
    response = httpx.get(keyed_host.url + route, timeout=10)
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/json")
    assert set(response.json()) == {"error"}
    assert "Traceback" not in response.text and detail not in response.text
    log = keyed_host.log_text()
    assert f"{exception}: {detail}" in log and "Traceback" in log
    assert f"{route} status=500" in log


async def test_a_blocked_sync_function_does_not_hold_up_other_requests(keyed_host):
    """`hold` blocks its thread until `release` runs: that only happens when sync
    functions run off the event loop."""
    async with httpx.AsyncClient(base_url=keyed_host.url, timeout=30) as client:
        held = asyncio.create_task(client.get("/hold"))
        released = await client.post("/release")
        assert released.json() == {"released": True}
        assert (await held).json() == {"released": True}
