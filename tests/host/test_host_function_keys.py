"""Auth levels as Azure enforces them, with LVMBEAT_FUNCTION_KEY set and unset."""

from __future__ import annotations

import httpx
import pytest
from host_support import SAMPLE_KEY


@pytest.fixture
def client(keyed_host):
    with httpx.Client(base_url=keyed_host.url, timeout=10) as client:
        yield client


def test_a_function_route_without_the_key_answers_401_in_json(client):
    response = client.post("/echo", content=b"x")
    assert response.status_code == 401
    error = response.json()["error"]
    assert "code" in error and "x-functions-key" in error
    assert SAMPLE_KEY not in response.text


def test_a_wrong_key_is_refused(client):
    assert client.get("/echo", params={"code": SAMPLE_KEY + "x"}).status_code == 401
    wrong = {"x-functions-key": "not-the-key"}
    assert client.get("/notify/up", headers=wrong).status_code == 401


def test_the_key_opens_function_routes_in_the_query_or_the_header(client):
    assert client.get("/echo", params={"code": SAMPLE_KEY}).status_code == 200
    header = {"x-functions-key": SAMPLE_KEY}
    assert client.get("/echo", headers=header).status_code == 200


@pytest.mark.parametrize(
    "name", ["X-Functions-Key", "X-FUNCTIONS-KEY", "x-FuNcTiOnS-kEy"]
)
def test_the_key_header_name_matches_in_any_letter_case_as_in_azure(client, name):
    assert client.post("/echo", headers={name: SAMPLE_KEY}).status_code == 200
    assert client.post("/echo", headers={name: "not-the-key"}).status_code == 401


def test_anonymous_routes_stay_open(client):
    assert client.get("/report").status_code == 203


def test_the_key_never_reaches_the_log(client, keyed_host):
    client.get("/echo", params={"code": SAMPLE_KEY})
    client.get("/echo", headers={"x-functions-key": SAMPLE_KEY})
    client.get("/echo", params={"code": "a-wrong-key"})
    log = keyed_host.log_text()
    assert "function=echo GET /echo status=401" in log
    assert SAMPLE_KEY not in log


def test_without_a_key_it_warns_and_serves_every_route_openly(start_host, sample_app):
    host = start_host(sample_app)
    with httpx.Client(base_url=host.url, timeout=10) as client:
        assert client.post("/echo", content=b"x").status_code == 200
        assert client.get("/notify/up").status_code == 200
    log = host.log_text()
    assert "WARNING" in log and "LVMBEAT_FUNCTION_KEY is not set" in log
