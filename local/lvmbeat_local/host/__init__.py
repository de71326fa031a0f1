"""A local host for the monitor's Azure Functions app: `lvmbeat monitor serve`.

Azure Functions Core Tools downloads a binary that some machines cannot install, and
some users self-host. This package serves what `function_app.app.get_functions()`
declares, with Azure's routing, key checks and NCRONTAB timers, on aiohttp, sized to
what this app uses (literal routes and `{name}` parameters, function keys, async
functions, timers) and bounded as a server on the open internet. Nothing about routes
is written here: a route added to the function app is served.

One module per job: `settings` (local.settings.json and `%NAME%`), `loader` (import the
app, read its triggers), `routes` (route templates), `keys` (auth levels), `invoke`
(await a function within its limit of calls), `http_trigger` (aiohttp <->
azure.functions), `timer` (schedules), `server` (limits, wiring and clean stop),
`process` (run it as a subprocess).
"""

from __future__ import annotations

from lvmbeat_local.host.errors import HostError


__all__ = ["HostError"]
