"""Call the app's functions on the event loop, each within its own limit of calls.

The monitor's functions are `async def` (the Python worker awaits them on its loop), so
the host awaits them directly: no thread hop. What the host must still prevent is one
stalled function (storage that stops answering under `/status`) piling up calls
without end and taking the storage client's connections from the others. So each
function has its own cap of calls in flight; a call over it is refused at once (503),
and the other functions, the timer included, go on untouched.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable

from typing import Any


# Far above what LCO's actor and a few status-page readers need (a call takes a few
# milliseconds), far below the SDK's pool of 100 storage connections per client.
CALLS_PER_FUNCTION = 16


class FunctionBusy(RuntimeError):
    """A function already has its cap of calls in flight."""

    def __init__(self, name: str, limit: int) -> None:
        super().__init__(
            f"Function {name} has {limit} calls in flight, its limit; try again "
            "in a moment."
        )
        self.name = name
        self.limit = limit


class Invoker:
    """Awaits each call, counting the calls of each function in flight."""

    def __init__(self, per_function: int = CALLS_PER_FUNCTION) -> None:
        self.per_function = per_function
        self.in_flight: Counter[str] = Counter()

    async def call(
        self, name: str, handler: Callable[..., Awaitable[Any]], **arguments: Any
    ) -> Any:
        if self.in_flight[name] >= self.per_function:
            raise FunctionBusy(name, self.per_function)
        self.in_flight[name] += 1
        try:
            return await handler(**arguments)
        finally:
            self.in_flight[name] -= 1
