"""lvmbeat's local tools: the monitor's local Functions host and the dev stand-ins.

Nothing here runs at LCO. It lives beside the actor's package, not inside it, so the
actor's install and image carry none of it (and none of its dependencies): install it
with the `local` extra (`pip install 'lvmbeat[local]'`).

- `lvmbeat_local.host`: serves `function_app.app` (`lvmbeat monitor serve`).
- `lvmbeat_local.dev`: Azurite, an SMTP server, a broker relay and `make run`.
"""
