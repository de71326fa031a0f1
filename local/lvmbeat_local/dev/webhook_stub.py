"""`make run`'s webhook receiver: checks the signature as a receiver should and prints
each notice's JSON facts, so a newcomer sees what a webhook gets."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable

from aiohttp import web

from lvmbeat_local.dev.stub_server import ThreadedApp


def webhook_stand_in(secret: str, show: Callable[[str], None]) -> ThreadedApp:
    """A receiver at http://127.0.0.1:<port>/lvmbeat verifying X-Lvmbeat-Signature."""

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        expected = (
            "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        )
        given = request.headers.get("X-Lvmbeat-Signature", "")
        if not hmac.compare_digest(given, expected):
            show("Webhook call refused: the signature does not match.")
            return web.json_response({"error": "bad signature"}, status=401)
        facts = json.loads(body)
        text = facts.pop("text", "")
        summary = json.dumps(facts, indent=None)
        show(
            f"Webhook POST (signature ok, Idempotency-Key "
            f"{request.headers.get('Idempotency-Key')}):\n    {summary}\n"
            + "\n".join(f"    | {line}" for line in text.splitlines())
        )
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/lvmbeat", receive)
    return ThreadedApp(app)
