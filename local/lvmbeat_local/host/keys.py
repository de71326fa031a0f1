"""Function keys as Azure checks them: `code` query parameter or `x-functions-key`
header, whose name matches in any letter case (HTTP header names are case-insensitive;
the caller passes a case-insensitive mapping).

The host knows one key, `LVMBEAT_FUNCTION_KEY`; it opens function-level routes. Unset,
every route is open, as under `func start`. The key is compared in constant time and
never logged.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field

from lvmbeat_local.host.loader import AuthLevel


KEY_SETTING = "LVMBEAT_FUNCTION_KEY"
KEY_QUERY_PARAMETER = "code"
KEY_HEADER = "x-functions-key"


@dataclass(frozen=True)
class KeyCheck:
    key: str | None = field(repr=False)

    @property
    def enforced(self) -> bool:
        return bool(self.key)

    def allows(
        self, level: AuthLevel, query: Mapping[str, str], headers: Mapping[str, str]
    ) -> bool:
        if level is AuthLevel.ANONYMOUS or not self.key:
            return True
        offered = headers.get(KEY_HEADER) or query.get(KEY_QUERY_PARAMETER)
        if not offered:
            return False
        # aiohttp hands over header bytes that are not UTF-8 as lone surrogates
        # (surrogateescape); encode them back instead of failing on them.
        return hmac.compare_digest(_raw(offered), _raw(self.key))


def _raw(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")
