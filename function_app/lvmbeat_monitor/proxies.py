"""The HTTP proxy for storage, read from the environment once, not on every request.

Left to itself, the SDK's aiohttp transport trusts the environment on every request:
it looks up ~/.netrc and the proxy variables in a worker thread each time, two thread
hops per storage call (about 0.6 ms of CPU per heartbeat here, a third of the SDK's
cost; bench/monitor_vs_first.py). The clients are built with `use_env_settings=False`
and, when HTTP_PROXY / HTTPS_PROXY route the storage endpoint through a proxy (and
NO_PROXY does not exempt it), that proxy is passed as `proxies`, which is what the
Azure SDK documents for a proxy per client:
https://learn.microsoft.com/azure/developer/python/sdk/azure-sdk-configure-proxy
(both are read at start: a proxy set later needs a restart, as settings do).
"""

from __future__ import annotations

from urllib.parse import urlsplit
from urllib.request import getproxies, proxy_bypass


def proxies_for(url: str) -> dict[str, str]:
    """`{"http": ..., "https": ...}` from the environment for requests to `url`; empty
    when no proxy applies to its host."""
    host = urlsplit(url).hostname or ""
    found = getproxies()
    if not host or proxy_bypass(host):
        return {}
    return {scheme: found[scheme] for scheme in ("http", "https") if scheme in found}
