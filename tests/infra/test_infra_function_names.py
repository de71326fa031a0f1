"""Names that Azure derives from the code, used in the templates and in docs/deploy.md.

In the Python v2 model a function is named after its Python function. The watcher's
queries find the timer by that name (`operation_Name` in `requests`), and the actor's
key is created for the function behind `/heartbeat` by that name
(`az functionapp function keys set --function-name ...`). A rename in function_app.py
would silently blind the watcher or leave the actor's key on nothing; these tests tie
the names together.
"""

from __future__ import annotations

import importlib.util
import re
from functools import cache

import azure.functions as func
from bicep_reader import REPO_ROOT


DEPLOY_DOC = REPO_ROOT / "docs" / "deploy.md"
FUNCTION_APP = REPO_ROOT / "function_app" / "function_app.py"
FUNCTION_NAME_OPTION = re.compile(r"--function-name\s+([\w-]+)")


@cache
def indexed_functions() -> tuple[func.Function, ...]:
    """What the host indexes, from a private copy of function_app.py: azure-functions
    refuses a second get_functions() on one app object, and other tests use the
    imported one."""
    spec = importlib.util.spec_from_file_location("infra_function_app", FUNCTION_APP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return tuple(module.app.get_functions())


def functions_by_trigger() -> dict[str, list[func.Function]]:
    found: dict[str, list[func.Function]] = {}
    for function in indexed_functions():
        found.setdefault(type(function.get_trigger()).__name__, []).append(function)
    return found


def heartbeat_function_name() -> str:
    [function] = [
        function
        for function in functions_by_trigger()["HttpTrigger"]
        if function.get_trigger().route == "heartbeat"
    ]
    return function.get_function_name()


def wrong_function_names(doc_text: str, expected: str) -> set[str]:
    """`--function-name` values in the doc other than the heartbeat function's name."""
    named = set(FUNCTION_NAME_OPTION.findall(doc_text))
    return named - {expected} if named else {"<no --function-name at all>"}


def test_the_watcher_watches_the_timer_function_the_app_declares(deployment):
    [timer] = functions_by_trigger()["TimerTrigger"]
    default = deployment.main.parameters["timerFunctionName"]["default"]
    assert default == timer.get_function_name()


def test_the_actors_key_is_created_for_the_function_behind_heartbeat():
    doc = DEPLOY_DOC.read_text()
    assert wrong_function_names(doc, heartbeat_function_name()) == set()


def test_the_name_check_trips_on_a_key_for_another_function():
    text = "az functionapp function keys set --function-name notify --key-name x"
    assert wrong_function_names(text, heartbeat_function_name()) == {"notify"}


def test_the_heartbeat_route_needs_a_key_the_others_do_not_share():
    # The actor's function key opens this function only; the route itself must not be
    # anonymous, or the key would protect nothing.
    [function] = [
        function
        for function in functions_by_trigger()["HttpTrigger"]
        if function.get_function_name() == heartbeat_function_name()
    ]
    assert function.get_trigger().auth_level == func.AuthLevel.FUNCTION
