"""A local Slack Web API that speaks `chat.postMessage` as Slack does, for tests.

It checks the bot token (`Authorization: Bearer`), takes the JSON (or form) body the
SDK sends, answers `{"ok": true, "channel", "ts", "message"}`, and keeps every post it
accepted. `refuse` decides, per request, to answer as Slack does when it will not post:
`ok: false` with an error code, HTTP 429 with Retry-After, or a bare 500.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from aiohttp import web
from local_app import serve_locally


class Refusal(StrEnum):
    CHANNEL_NOT_FOUND = "channel_not_found"  # 200 {"ok": false, "error": ...}
    RATE_LIMITED = "rate_limited"  # 429, Retry-After
    SERVER_ERROR = "server_error"  # 500, an HTML page


RETRY_AFTER_SECONDS = 7


@dataclass
class SlackApi:
    token: str
    posts: list[dict] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    # Called with each post's arguments: a Refusal to refuse it, None to accept it.
    refuse: Callable[[dict], Refusal | None] = lambda post: None
    port: int = 0
    _runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    async def start(self) -> SlackApi:
        app = web.Application()
        app.router.add_post("/api/chat.postMessage", self._post_message)
        self._runner, self.port = await serve_locally(app)
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def texts(self) -> list[str]:
        return [post["text"] for post in self.posts]

    async def _post_message(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"ok": False, "error": "invalid_auth"})
        if request.content_type == "application/json":
            post = await request.json()
        else:
            post = dict(await request.post())
        if not post.get("channel") or not post.get("text"):
            return web.json_response({"ok": False, "error": "no_text"})
        refusal = self.refuse(post)
        if refusal is not None:
            self.refused.append(refusal)
            return _refusal(refusal)
        ts = f"{1772366400 + len(self.posts)}.{len(self.posts):06d}"
        self.posts.append({**post, "ts": ts})
        return web.Response(
            text=json.dumps(
                {
                    "ok": True,
                    "channel": "C0LVMALERTS",
                    "ts": ts,
                    "message": {"text": post["text"], "ts": ts},
                }
            ),
            content_type="application/json",
        )


def _refusal(refusal: Refusal) -> web.Response:
    if refusal is Refusal.RATE_LIMITED:
        return web.json_response(
            {"ok": False, "error": "ratelimited"},
            status=429,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    if refusal is Refusal.SERVER_ERROR:
        return web.Response(
            status=500,
            text="<html>Internal Server Error</html>",
            content_type="text/html",
        )
    return web.json_response({"ok": False, "error": str(refusal)})
