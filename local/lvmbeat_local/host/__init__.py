"""A local host for an Azure Functions (Python v2) app: `lvmbeat monitor serve`.

Azure Functions Core Tools downloads a binary that some machines cannot install, and
some users self-host. This package serves what `function_app.app.get_functions()`
declares, with Azure's routing, key checks and NCRONTAB timers, on aiohttp. Nothing
about routes is written here: a route added to the function app is served.

One module per job: `settings` (local.settings.json and `%NAME%`), `loader` (import the
app, read its triggers), `routes` (route templates), `keys` (auth levels), `invoke`
(sync in a thread, async awaited), `http` (aiohttp <-> azure.functions), `timer`
(schedules), `server` (wiring and clean stop), `process` (run it as a subprocess).
"""

from __future__ import annotations

from lvmbeat_local.host.errors import HostError


__all__ = ["HostError"]
