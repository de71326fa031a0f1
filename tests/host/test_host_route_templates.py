"""Route templates as the monitor writes them, and those refused at start."""

from __future__ import annotations

import pytest

from lvmbeat_local.host.errors import RouteError
from lvmbeat_local.host.routes import compile_template


def match(template: str, path: str) -> dict[str, str] | None:
    pattern, _ = compile_template(template, what="test")
    found = pattern.fullmatch(path)
    return None if found is None else found.groupdict()


def test_a_parameter_takes_one_segment():
    assert match("notify/{kind}", "/notify/up") == {"kind": "up"}
    assert match("notify/{kind}", "/notify/up/now") is None
    assert match("notify/{kind}", "/notify") is None


def test_literals_are_not_regexes_and_ignore_case():
    assert match("email-test.v1", "/email-test.v1") == {}
    assert match("email-test.v1", "/email-testXv1") is None
    assert match("email-test", "/Email-Test") == {}


def test_an_empty_route_is_the_site_root():
    assert match("", "/") == {}


@pytest.mark.parametrize(
    "template",
    [
        "items/{id:int}",  # a constraint
        "items/{id?}",  # optional
        "files/{*path}",  # catch-all
        "items/{unclosed",
        "a{id}b",  # a parameter inside a segment
    ],
)
def test_templates_beyond_literals_and_plain_parameters_are_refused(template):
    with pytest.raises(RouteError, match="literal segments and plain") as error:
        compile_template(template, what="Function f")
    assert "Function f" in str(error.value) and template in str(error.value)
