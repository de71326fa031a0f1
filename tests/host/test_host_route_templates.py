"""Azure route templates the host understands, and the ones it refuses at start."""

from __future__ import annotations

import pytest

from lvmbeat_local.host.errors import RouteError
from lvmbeat_local.host.routes import compile_template


def match(template: str, path: str) -> dict[str, str] | None:
    pattern, _ = compile_template(template, what="test")
    found = pattern.fullmatch(path)
    if found is None:
        return None
    return {k: v for k, v in found.groupdict().items() if v is not None}


def test_a_parameter_takes_one_segment():
    assert match("notify/{kind}", "/notify/up") == {"kind": "up"}
    assert match("notify/{kind}", "/notify/up/now") is None
    assert match("notify/{kind}", "/notify") is None


def test_constraints_and_optional_last_segments():
    assert match("items/{id:int}", "/items/42") == {"id": "42"}
    assert match("items/{id:int}", "/items/x") is None
    assert match("items/{id:int?}", "/items") == {}
    assert match("items/{id:int?}", "/items/7") == {"id": "7"}


def test_a_catch_all_takes_the_rest_of_the_path():
    assert match("files/{*path}", "/files/a/b.txt") == {"path": "a/b.txt"}
    assert match("files/{*path}", "/files") == {}


def test_literals_are_not_regexes():
    assert match("email-test.v1", "/email-test.v1") == {}
    assert match("email-test.v1", "/email-testXv1") is None


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("items/{id:regex(.*)}", "not supported"),
        ("{*rest}/tail", "must end the route"),
        ("items/{id?}/tail", "must be the last segment"),
        ("items/{unclosed", "cannot read route template"),
    ],
)
def test_templates_the_host_cannot_serve_are_refused(template, message):
    with pytest.raises(RouteError, match=message):
        compile_template(template, what="Function f")
