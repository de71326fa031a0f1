"""Where notices go: one `Channel` per configured destination.

The rules (decide.py) know channels only by name; the service hands each claimed
notice to its channel and records, per channel, whether it went out and what the
channel answered (its receipt: Slack's message `ts`, the email's Message-ID). Later
notices of the same outage get that receipt back as `thread`, so the all-clear and the
reminders join the alert's thread. A channel raises DeliveryError (with a kind that is
safe to show anyone) when it could not deliver.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from typing import Protocol

from lvmbeat_monitor.errors import DeliveryError, ErrorKind
from lvmbeat_monitor.mail import Mailer, build_mailer, compose
from lvmbeat_monitor.messages import Message, Site, render, render_test
from lvmbeat_monitor.model import Notice
from lvmbeat_monitor.settings import Settings, SettingsError


class Channel(Protocol):
    """A destination for notices."""

    name: str

    async def deliver(
        self, notice: Notice, now: datetime, *, thread: str | None = None
    ) -> str | None:
        """Deliver one notice, as a reply in `thread` when given; return the receipt
        later notices of the outage thread to (None: the channel has no threads).
        Raise DeliveryError when it could not be delivered."""
        ...

    async def send_test(self, now: datetime) -> None:
        """Send a message marked TEST, or raise DeliveryError."""
        ...

    async def close(self) -> None:
        """Release connections (the process is ending)."""
        ...


def site_of(settings: Settings) -> Site:
    return Site(settings.site_name, settings.status_url)


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

    async def deliver(
        self, notice: Notice, now: datetime, *, thread: str | None = None
    ) -> str | None:
        message = render(notice, now, site_of(self._settings))
        return await self._send(message, now, notice_id=notice.id, thread=thread)

    async def send_test(self, now: datetime) -> None:
        site = site_of(self._settings)
        await self._send(render_test("email", "/email-test", now, site), now)

    async def close(self) -> None:
        if self._mailer is not None:
            await self._mailer.close()

    async def _send(
        self,
        message: Message,
        now: datetime,
        *,
        notice_id: str | None = None,
        thread: str | None = None,
    ) -> str:
        try:
            email = compose(
                self._settings,
                message.subject,
                message.text,
                now,
                notice_id=notice_id,
                in_reply_to=thread,
            )
            if self._mailer is None:
                self._mailer = self._mailer_factory(self._settings)
        except SettingsError as error:
            raise DeliveryError(str(error), ErrorKind.MISCONFIGURED) from error
        await self._mailer.send(email)
        return str(email["Message-ID"])


def build_channels(settings: Settings) -> dict[str, Channel]:
    """The channels these settings configure. Email is always one: it is the channel
    of record, and an unconfigured one is reported (misconfigured) on every notice
    rather than silently skipped. Slack and the webhook are on when their setting
    (LVMBEAT_SLACK_TOKEN, LVMBEAT_WEBHOOK_URL) is."""
    from lvmbeat_monitor.slack import SlackChannel
    from lvmbeat_monitor.webhook import WebhookChannel

    channels: list[Channel] = [EmailChannel(settings)]
    if settings.slack_token is not None:
        channels.append(SlackChannel.from_settings(settings))
    if settings.webhook_url is not None:
        channels.append(WebhookChannel.from_settings(settings))
    unresolved = unresolved_references(settings)
    return {
        channel.name: UnresolvedSecret(channel.name, unresolved[channel.name])
        if channel.name in unresolved
        else channel
        for channel in channels
    }


# The text App Service passes instead of a secret it could not read from Key Vault
# (the secret is missing, or the app's identity may not read it): "If a reference
# isn't resolved properly, the reference string is used instead" (Microsoft, "Use Key
# Vault references as app settings in Azure App Service and Azure Functions").
KEY_VAULT_REFERENCE_PREFIX = "@Microsoft.KeyVault("
# The secret settings each channel needs (infra/main.bicep makes them references).
CHANNEL_SECRETS = {
    "email": ("email_password", "LVMBEAT_EMAIL_PASSWORD"),
    "slack": ("slack_token", "LVMBEAT_SLACK_TOKEN"),
    "webhook": ("webhook_secret", "LVMBEAT_WEBHOOK_SECRET"),
}


def unresolved_references(settings: Settings) -> dict[str, str]:
    """Channel name -> the setting that holds an unresolved Key Vault reference."""
    found = {}
    for channel, (field_name, setting) in CHANNEL_SECRETS.items():
        secret = getattr(settings, field_name)
        value = secret.get_secret_value() if secret is not None else ""
        if value.strip().startswith(KEY_VAULT_REFERENCE_PREFIX):
            found[channel] = setting
    return found


class UnresolvedSecret:
    """A channel whose secret is still a Key Vault reference: it sends nothing (the
    reference's text would go out as the credential) and reports every notice as
    misconfigured, naming the setting, so the notice stays queued for it, the watcher
    sees it undelivered, and the other channels go on."""

    def __init__(self, name: str, setting: str) -> None:
        self.name = name
        self._setting = setting

    def _error(self) -> DeliveryError:
        return DeliveryError(
            f"{self._setting} is an unresolved Key Vault reference: the platform "
            "could not read its secret (missing from the vault, or the app's "
            "identity lacks 'Key Vault Secrets User'). Set the secret and check the "
            "reference's status (docs/deploy.md, 'Secrets'); the channel stays off "
            "until it resolves.",
            ErrorKind.MISCONFIGURED,
        )

    async def deliver(
        self, notice: Notice, now: datetime, *, thread: str | None = None
    ) -> str | None:
        raise self._error()

    async def send_test(self, now: datetime) -> None:
        raise self._error()

    async def close(self) -> None:
        return None


# Which setting turns each optional channel on: /slack-test and /webhook-test name it
# when the channel is off.
ENABLING_SETTING = {"slack": "LVMBEAT_SLACK_TOKEN", "webhook": "LVMBEAT_WEBHOOK_URL"}
