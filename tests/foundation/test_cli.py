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
