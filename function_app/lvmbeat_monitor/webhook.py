"""Notices as one JSON POST each to LVMBEAT_WEBHOOK_URL, for whatever the LVM team
wires up (a pager, a chat bridge, a log).

The body holds the notice's facts and its rendered subject and text (messages.py);
docs/interface.md gives its shape. With LVMBEAT_WEBHOOK_SECRET set, the body is signed:
`X-Lvmbeat-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes>`. Every attempt
at one notice carries the notice id as `Idempotency-Key`, so a receiver drops the
repeat that follows a crash between send and confirm. Any 2xx answer is a delivery;
anything else is a failure of this channel, retried by later checks.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from datetime import datetime
from urllib.parse import urlsplit

from typing import Any

import aiohttp

from lvmbeat_monitor import __version__
from lvmbeat_monitor.clock import iso_z
from lvmbeat_monitor.errors import DeliveryError, ErrorKind
from lvmbeat_monitor.messages import (
    Message,
    Site,
    outage_seconds,
    render,
    render_test,
)
from lvmbeat_monitor.model import Notice
from lvmbeat_monitor.settings import Settings


WEBHOOK_TIMEOUT_SECONDS = 20
SIGNATURE_HEADER = "X-Lvmbeat-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"


def signature(secret: bytes, body: bytes) -> str:
    """The header value a receiver recomputes to trust the body."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def payload(notice: Notice, now: datetime, site: Site, message: Message) -> dict:
    """The JSON body for a notice (docs/interface.md, "Webhook")."""
    return {
        "kind": str(notice.kind),
        "site": site.name,
        "notice_id": notice.id,
        "outage_id": notice.outage_id,
        "reminder": notice.reminder,
        "decided_at": iso_z(notice.decided_at),
        "sent_at": iso_z(now),
        "last_seen": iso_z(notice.last_seen),
        "silent_since": iso_z(notice.silent_since),
        "back_at": iso_z(notice.back_at),
        "outage_seconds": outage_seconds(notice, now),
        "forced": notice.forced,
        "subject": message.subject,
        "text": message.text,
        "status_url": site.status_url,
    }


class WebhookChannel:
    """POSTs each notice to one URL."""

    name = "webhook"

    def __init__(self, url: str, *, secret: str | None, site: Site) -> None:
        self._url = url
        self._secret = secret.encode() if secret else None
        self._site = site
        # The URL may hold a credential: errors and logs name its host only.
        parts = urlsplit(url)
        self._where = f"the webhook at {parts.scheme}://{parts.netloc}"

    @classmethod
    def from_settings(cls, settings: Settings) -> WebhookChannel:
        if settings.webhook_url is None:
            raise ValueError("the webhook channel needs LVMBEAT_WEBHOOK_URL")
        secret = settings.webhook_secret
        return cls(
            settings.webhook_url.get_secret_value(),
            secret=secret.get_secret_value() if secret else None,
            site=Site(settings.site_name, settings.status_url),
        )

    async def deliver(
        self, notice: Notice, now: datetime, *, thread: str | None = None
    ) -> str | None:
        # `thread` is not needed: the body carries outage_id, which groups notices.
        message = render(notice, now, self._site)
        await self._post(payload(notice, now, self._site, message), key=notice.id)
        return None

    async def send_test(self, now: datetime) -> None:
        message = render_test("webhook", "/webhook-test", now, self._site)
        body: dict[str, Any] = {
            "kind": "test",
            "site": self._site.name,
            "notice_id": uuid.uuid4().hex,
            "sent_at": iso_z(now),
            "subject": message.subject,
            "text": message.text,
            "status_url": self._site.status_url,
        }
        await self._post(body, key=body["notice_id"])

    async def close(self) -> None:
        return None  # one session per send

    async def _post(self, body: dict[str, Any], *, key: str) -> None:
        data = json.dumps(body, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"lvmbeat-monitor/{__version__}",
            IDEMPOTENCY_HEADER: key,
        }
        if self._secret is not None:
            headers[SIGNATURE_HEADER] = signature(self._secret, data)
        timeout = aiohttp.ClientTimeout(total=WEBHOOK_TIMEOUT_SECONDS)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.post(
                    self._url, data=data, headers=headers, allow_redirects=False
                ) as response,
            ):
                status = response.status
                retry_after = response.headers.get("Retry-After")
        except aiohttp.ClientConnectorCertificateError as error:
            raise DeliveryError(
                f"TLS with {self._where} failed: {error.certificate_error}.",
                ErrorKind.TLS,
            ) from error
        except (TimeoutError, aiohttp.ServerTimeoutError) as error:
            raise DeliveryError(
                f"{self._where} did not answer within {WEBHOOK_TIMEOUT_SECONDS} s.",
                ErrorKind.TIMEOUT,
            ) from error
        except aiohttp.ClientError as error:
            raise DeliveryError(
                f"Could not reach {self._where}: {type(error).__name__}: {error}.",
                ErrorKind.UNREACHABLE,
            ) from error
        if 200 <= status < 300:
            return
        if status == 429:
            raise DeliveryError(
                f"{self._where} answered HTTP 429 (Retry-After {retry_after or '?'}); "
                "the next check retries it.",
                ErrorKind.RATE_LIMITED,
            )
        if status in (401, 403):
            raise DeliveryError(
                f"{self._where} refused us (HTTP {status}); check "
                "LVMBEAT_WEBHOOK_SECRET against the receiver's.",
                ErrorKind.AUTH,
            )
        hint = (
            "; set LVMBEAT_WEBHOOK_URL to the final URL (redirects are not followed)"
            if 300 <= status < 400
            else ""
        )
        raise DeliveryError(
            f"{self._where} answered HTTP {status}{hint}.", ErrorKind.REFUSED
        )
