"""The host as a server on the open internet: every read is bounded, and a function
that hangs holds up neither the other routes nor the timer.

Timing limits are tripped on a host with half-second timeouts (`strict_host`); the
tests wait for what the server does (an answer, a closed connection), never for a
fixed time.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator

import httpx
import pytest
from host_support import SAMPLE_KEY, write_local_settings
from test_host_timer import read_runs

from lvmbeat_local.host.invoke import CALLS_PER_FUNCTION
from lvmbeat_local.host.server import MAX_HEADERS, MAX_REQUEST_BODY


KEY = {"x-functions-key": SAMPLE_KEY}


def connect(host) -> socket.socket:
    sock = socket.create_connection((host.host, host.port), timeout=10)
    sock.settimeout(10)  # a safety net: every read below ends on the server's answer
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def split_response(raw: bytes) -> tuple[str, dict]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return head.decode("latin-1").split("\r\n")[0], json.loads(body)


@pytest.fixture
def client(strict_host) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=strict_host.url, timeout=10) as client:
        yield client


def test_a_body_up_to_16_kib_reaches_the_function(client):
    response = client.post("/release", content=b"x" * MAX_REQUEST_BODY)
    assert response.json()["body_bytes"] == MAX_REQUEST_BODY == 16 * 1024


def test_a_body_over_16_kib_answers_413_in_json_on_an_anonymous_route(client):
    response = client.post("/release", content=b"x" * (MAX_REQUEST_BODY + 1))
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("application/json")
    assert set(response.json()) == {"error"}


def test_a_chunked_body_over_the_cap_answers_413_too(client):
    def chunks() -> Iterator[bytes]:
        for _ in range(MAX_REQUEST_BODY // 1024 + 1):
            yield b"x" * 1024

    response = client.post("/release", content=chunks())
    assert response.status_code == 413


def test_a_request_head_that_trickles_gets_408_and_the_connection_ends(strict_host):
    with connect(strict_host) as sock:
        sock.sendall(b"GET /report HTTP/1.1\r\nHost: lco\r\nX-Slow: ")
        status, body = split_response(read_until_closed(sock))
    assert status == "HTTP/1.1 408 Request Timeout"
    assert "request head did not arrive within 0.5 s" in body["error"]


def test_a_body_that_trickles_gets_408_and_the_function_never_runs(strict_host):
    with connect(strict_host) as sock:
        sock.sendall(
            b"POST /echo HTTP/1.1\r\nHost: lco\r\nx-functions-key: "
            + SAMPLE_KEY.encode()
            + b"\r\nContent-Length: 100\r\n\r\n0123456789"
        )
        status, body = split_response(read_until_closed(sock))
    assert status.startswith("HTTP/1.1 408")
    assert "body did not arrive within 0.5 s" in body["error"]
    assert "function=echo POST /echo status=408" in strict_host.log_text()


def test_an_idle_keep_alive_connection_is_closed_by_the_host(strict_host):
    with connect(strict_host) as sock:
        sock.sendall(b"GET /report HTTP/1.1\r\nHost: lco\r\n\r\n")
        answer = read_until_closed(sock)  # returns once the host closes it
    assert answer.startswith(b"HTTP/1.1 203")
    assert answer.endswith(b"LCO,up\n")  # one whole answer, then the close


def test_a_header_over_the_size_limit_answers_400_in_json_without_echoing_it(client):
    secret = "s3cret-" + "x" * 9000
    response = client.get("/report", headers={"X-Big": secret})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/json")
    assert "headers" in response.json()["error"]
    assert "s3cret" not in response.text


def test_more_headers_than_the_limit_answer_400(client):
    headers = {f"X-Many-{n}": "1" for n in range(MAX_HEADERS + 1)}
    assert client.get("/report", headers=headers).status_code == 400


async def test_a_hung_function_at_its_limit_refuses_more_and_holds_up_nobody(
    start_host, sample_app, tmp_path, eventually
):
    """`hold` stays hung (like storage that stopped answering) until `release`: its
    calls fill its own limit, and neither another route nor the timer waits."""
    runs = tmp_path / "runs"
    write_local_settings(
        sample_app,
        {"SAMPLE_TIMER_SCHEDULE": "* * * * * *", "SAMPLE_TIMER_LOG": str(runs)},
    )
    host = start_host(sample_app)
    async with httpx.AsyncClient(base_url=host.url, timeout=30) as client:
        holds = [
            asyncio.create_task(client.get("/hold"))
            for _ in range(CALLS_PER_FUNCTION + 1)
        ]
        # The only call that can end before the release is the one over the limit.
        done, pending = await asyncio.wait(holds, return_when=asyncio.FIRST_COMPLETED)
        (refused,) = done
        assert refused.result().status_code == 503
        assert refused.result().headers["retry-after"] == "1"
        assert (
            f"{CALLS_PER_FUNCTION} calls in flight" in refused.result().json()["error"]
        )

        other = await client.get("/report")
        assert other.status_code == 203
        before = len(read_runs(runs))
        await asyncio.to_thread(
            eventually,
            lambda: len(read_runs(runs)) >= before + 2,
            what="two timer runs while hold is hung",
        )
        assert not any(task.done() for task in pending)  # still hung, all of them

        assert (await client.post("/release")).status_code == 200
        answers = await asyncio.gather(*pending)
    assert [a.json() for a in answers] == [{"released": True}] * CALLS_PER_FUNCTION
