"""A local webhook receiver that checks what a receiver should: the HMAC signature of
the exact body bytes, and the Idempotency-Key it uses to drop repeats."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field

from aiohttp import web
from local_app import serve_locally


@dataclass(frozen=True)
class Call:
    body: dict
    idempotency_key: str | None
    signature_ok: bool


@dataclass
class WebhookReceiver:
    secret: bytes | None
    calls: list[Call] = field(default_factory=list)
    # The status to answer (a receiver that is down answers 5xx).
    status: int = 200
    port: int = 0
    _runner: web.AppRunner | None = None
    _seen: set[str] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/lvmbeat-token-in-path"

    @property
    def accepted(self) -> list[dict]:
        """Bodies accepted once each, as a receiver that honours the key keeps them."""
        kept, seen = [], set()
        for call in self.calls:
            if call.signature_ok and call.idempotency_key not in seen:
                seen.add(call.idempotency_key)
                kept.append(call.body)
        return kept

    async def start(self) -> WebhookReceiver:
        app = web.Application()
        app.router.add_post("/hooks/{token}", self._receive)
        self._runner, self.port = await serve_locally(app)
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _receive(self, request: web.Request) -> web.Response:
        raw = await request.read()
        given = request.headers.get("X-Lvmbeat-Signature", "")
        if self.secret is None:
            signature_ok = True
        else:
            expected = (
                "sha256=" + hmac.new(self.secret, raw, hashlib.sha256).hexdigest()
            )
            signature_ok = hmac.compare_digest(given, expected)
        if self.status >= 300:
            return web.json_response({"error": "down"}, status=self.status)
        self.calls.append(
            Call(json.loads(raw), request.headers.get("Idempotency-Key"), signature_ok)
        )
        if not signature_ok:
            return web.json_response({"error": "bad signature"}, status=401)
        return web.json_response({"ok": True})
