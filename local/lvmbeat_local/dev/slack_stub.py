"""`make run`'s Slack: answers `chat.postMessage` as Slack's Web API does and prints
each message, so a newcomer sees what the channel would show (and its threads)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

from aiohttp import web

from lvmbeat_local.dev.stub_server import ThreadedApp


def slack_stand_in(token: str, show: Callable[[str], None]) -> ThreadedApp:
    """A stand-in for https://slack.com/api/ that accepts posts with `token`."""
    counter = itertools.count(1)

    async def post_message(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {token}":
            return web.json_response({"ok": False, "error": "invalid_auth"})
        post = await request.json()
        ts = f"{int(time.time())}.{next(counter):06d}"
        thread = post.get("thread_ts")
        where = f"#{post.get('channel')}" + (
            f", in the thread of {thread} (also sent to the channel)" if thread else ""
        )
        text = "\n".join(f"    {line}" for line in post.get("text", "").splitlines())
        show(f"Slack message {ts} to {where}:\n{text}")
        return web.json_response({"ok": True, "channel": "CLOCAL", "ts": ts})

    app = web.Application()
    app.router.add_post("/api/chat.postMessage", post_message)
    return ThreadedApp(app)
