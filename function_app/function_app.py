"""Azure Functions entry point (Python v2 model): a table of contents, no logic."""

from __future__ import annotations

import json

import azure.functions as func

from lvmbeat_monitor import __version__


app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)


@app.route(route="version", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def version(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps({"version": __version__}), mimetype="application/json"
    )
