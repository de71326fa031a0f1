"""Call a user function as the Python worker does: async awaited on the loop, sync in a
thread, so a blocking handler (an SMTP send) never stalls the other routes."""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from typing import Any


class Invoker:
    def __init__(self, executor: ThreadPoolExecutor) -> None:
        self.executor = executor

    async def call(self, handler: Callable[..., Any], **arguments: Any) -> Any:
        if inspect.iscoroutinefunction(handler):
            return await handler(**arguments)
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(
            self.executor, functools.partial(handler, **arguments)
        )
        if inspect.isawaitable(result):  # a sync wrapper around a coroutine function
            result = await result
        return result
