"""The CLI and the function app report the same version: one place for that fact."""

from __future__ import annotations

import subprocess
import sys

import azure.functions as func


async def test_cli_and_function_app_report_one_version():
    import function_app

    out = subprocess.run(
        [sys.executable, "-m", "lvmbeat", "--version"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # azure-functions 1.x refuses a second get_functions() on one app unless its
    # memory of indexed names is cleared; other tests may have indexed it already.
    function_app.app.functions_bindings = None
    (version_fn,) = [
        f
        for f in function_app.app.get_functions()
        if f.get_function_name() == "version"
    ]
    response = await version_fn.get_user_function()(
        func.HttpRequest(method="GET", url="/version", body=b"")
    )
    cli_version = out.strip().rsplit(" ", 1)[-1]
    assert response.get_body() == f'{{"version": "{cli_version}"}}'.encode()
