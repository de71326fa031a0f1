"""Where notices go: one `Channel` per configured destination.

The rules (decide.py) know channels only by name; the service hands each claimed
notice to its channel and records, per channel, whether it went out. A channel raises
DeliveryError (with a kind that is safe to show anyone) when it could not deliver.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from typing import Protocol

from lvmbeat_monitor.errors import DeliveryError, ErrorKind
from lvmbeat_monitor.mail import (
    Mailer,
    body_for,
    build_mailer,
    compose,
    subject_for,
    test_body,
    test_subject,
)
from lvmbeat_monitor.model import Notice
from lvmbeat_monitor.settings import Settings, SettingsError


class Channel(Protocol):
    """A destination for notices."""

    name: str

    async def deliver(self, notice: Notice, now: datetime) -> None:
        """Deliver one notice or raise DeliveryError."""
        ...

    async def send_test(self, now: datetime) -> None:
        """Send a message marked TEST, or raise DeliveryError."""
        ...

    async def close(self) -> None:
        """Release connections (the process is ending)."""
        ...


class EmailChannel:
    """The alert email, through the configured backend (acs, smtp or outbox)."""

    name = "email"

    def __init__(
        self,
        settings: Settings,
        mailer_factory: Callable[[Settings], Mailer] = build_mailer,
    ) -> None:
        self._settings = settings
        self._mailer_factory = mailer_factory
        self._mailer: Mailer | None = None

    async def deliver(self, notice: Notice, now: datetime) -> None:
        site = self._settings.site_name
        subject = subject_for(notice, site)
        body = body_for(notice, site, self._settings.send_email_after)
        await self._send(subject, body, now, notice_id=notice.id)

    async def send_test(self, now: datetime) -> None:
        site = self._settings.site_name
        await self._send(test_subject(site), test_body(site, now), now)

    async def close(self) -> None:
        if self._mailer is not None:
            await self._mailer.close()

    async def _send(
        self, subject: str, body: str, now: datetime, *, notice_id: str | None = None
    ) -> None:
        try:
            message = compose(self._settings, subject, body, now, notice_id=notice_id)
            if self._mailer is None:
                self._mailer = self._mailer_factory(self._settings)
        except SettingsError as error:
            raise DeliveryError(str(error), ErrorKind.MISCONFIGURED) from error
        await self._mailer.send(message)


def build_channels(settings: Settings) -> dict[str, Channel]:
    """The channels these settings configure. Email is always one: it is the channel
    of record, and an unconfigured one is reported (misconfigured) on every notice
    rather than silently skipped."""
    email = EmailChannel(settings)
    return {email.name: email}
