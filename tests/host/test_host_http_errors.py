"""A function that fails answers 500 in JSON; the log has the cause."""

from __future__ import annotations

import httpx


def test_a_function_that_raises_answers_500_json_and_the_log_has_the_cause(
    keyed_host,
):
    route, exception, detail = "/fail", "RuntimeError", "table password is hunter2"
    response = httpx.get(keyed_host.url + route, timeout=10)
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/json")
    assert set(response.json()) == {"error"}
    assert "Traceback" not in response.text and detail not in response.text
    log = keyed_host.log_text()
    assert f"{exception}: {detail}" in log and "Traceback" in log
    assert f"{route} status=500" in log
