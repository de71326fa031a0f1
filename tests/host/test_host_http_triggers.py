"""A user calls the sample app's HTTP functions through the local host, over HTTP."""

from __future__ import annotations

import re

import httpx
import pytest
from host_support import SAMPLE_APP, SAMPLE_KEY, load_app_module


def sample_functions():
    return load_app_module(SAMPLE_APP, "sample_function_app").app.get_functions()


@pytest.fixture
def client(keyed_host):
    with httpx.Client(base_url=keyed_host.url, timeout=10) as client:
        yield client


def test_every_route_the_app_declares_is_served_with_its_methods(client):
    declared = 0
    for function in sample_functions():
        trigger = function.get_trigger()
        if trigger.get_binding_name() != "httpTrigger":
            continue
        route = re.sub(r"\{[^}]+\}", "up", trigger.route)
        if function.get_function_name() in ("hold",):
            continue  # hung until released; covered in test_host_limits
        for method in trigger.methods:
            response = client.request(
                str(method.value), f"/{route}", headers={"x-functions-key": SAMPLE_KEY}
            )
            assert response.status_code not in (401, 404, 405), (
                function.get_function_name(),
                method,
                response.text,
            )
            declared += 1
    assert declared >= 8


def test_route_parameters_and_query_reach_the_function(client):
    response = client.get("/notify/down", params={"force": "true", "code": SAMPLE_KEY})
    assert response.status_code == 200
    assert response.json() == {"kind": "down", "force": "true"}


def test_routes_ignore_case_and_a_trailing_slash_as_azure_does(client):
    response = client.get("/Notify/up/", headers={"x-functions-key": SAMPLE_KEY})
    assert response.json()["kind"] == "up"


def test_the_function_sees_method_url_headers_query_and_body(client):
    response = client.post(
        "/echo",
        params=[("site", "LCO"), ("tag", "a"), ("tag", "b")],
        headers={"x-functions-key": SAMPLE_KEY, "X-Overwatcher": "on"},
        content=b'{"beat": 1}',
    )
    assert response.status_code == 200
    seen = response.json()
    assert seen["method"] == "POST"
    assert seen["url"].startswith(f"{client.base_url}/echo?")
    assert seen["params"]["site"] == "LCO"
    assert seen["params"]["tag"] == "a,b"
    assert seen["headers"]["x-overwatcher"] == "on"
    assert seen["body"] == '{"beat": 1}'
    assert seen["route_params"] == {}


def test_the_response_keeps_status_headers_and_media_type(client):
    response = client.get("/report")
    assert response.status_code == 203
    assert response.headers["x-lvm-site"] == "LCO"
    assert response.headers["content-type"].startswith("text/csv")
    assert response.text == "site,state\nLCO,up\n"


def test_an_unknown_route_answers_404_in_json(client):
    response = client.get("/no-such-function", params={"code": SAMPLE_KEY})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert "/no-such-function" in response.json()["error"]


def test_a_method_the_route_does_not_declare_answers_405_in_json(client):
    response = client.delete("/echo", headers={"x-functions-key": SAMPLE_KEY})
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST, PUT"
    assert "DELETE" in response.json()["error"]


def test_each_request_is_logged_once_without_its_query(client, keyed_host):
    client.get("/notify/once-only", params={"code": SAMPLE_KEY})
    lines = [line for line in keyed_host.log_text().splitlines() if "once-only" in line]
    assert len(lines) == 1
    assert "function=notify GET /notify/once-only status=200" in lines[0]
    assert "duration_ms=" in lines[0]
    assert "code=" not in lines[0]
