"""The emails, and the backends that deliver them, behind one Protocol.

Messages are built with the standard library's `email` package (From, To with display
names, Reply-To, Date, Message-ID, plain text). Backends:
- `acs`: Azure Communication Services Email (managed identity or connection string);
- `smtp`: any relay, STARTTLS + AUTH when LVMBEAT_EMAIL_TLS is on;
- `outbox`: one `.eml` file per message in a folder, for local runs.
Every send is a coroutine: the triggers are `async def`, which the Functions Python
worker runs on its event loop, so a send never ties up a worker thread. smtplib (the
one blocking client) runs in a thread with a timeout on every step; the caller bounds
the whole send by decide.SEND_DEADLINE. A failure raises MailError with a reason that
holds no secret, and a kind that is safe to show anyone.
"""

from __future__ import annotations

import asyncio
import logging
import os
import smtplib
import ssl
import tempfile
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, make_msgid, parseaddr
from pathlib import Path

from typing import Protocol

from lvmbeat_monitor.errors import DeliveryError, ErrorKind
from lvmbeat_monitor.settings import EmailBackend, Settings, SettingsError


log = logging.getLogger(__name__)

# Per step (connect, each SMTP command); the whole send is bounded by the caller.
SMTP_TIMEOUT_SECONDS = 15.0
ACS_TIMEOUT_SECONDS = 40.0
ACS_POLL_SECONDS = 1.0


class MailError(DeliveryError):
    """A message could not be delivered; the text says why, without secrets."""


class Mailer(Protocol):
    """Delivers one message or raises MailError."""

    async def send(self, message: EmailMessage) -> None: ...

    async def close(self) -> None: ...


class _NothingToClose:
    """For mailers that hold no connection between sends."""

    async def close(self) -> None:
        return None


def compose(
    settings: Settings,
    subject: str,
    body: str,
    now: datetime,
    *,
    notice_id: str | None = None,
    in_reply_to: str | None = None,
) -> EmailMessage:
    """A plain-text message with the configured sender, recipients and reply-to.

    With `notice_id`, the Message-ID is derived from the notice, so a notice resent
    after a crash between send and confirm carries the same Message-ID as its first
    copy, and mail systems that drop duplicates by Message-ID drop the repeat.
    `in_reply_to` (the outage's first message, as stored when it went out) threads
    the all-clear and reminders under the alert in mail clients.
    """
    if not settings.email_from_address:
        raise SettingsError(
            "LVMBEAT_EMAIL_FROM_ADDRESS is not set; set the sender address "
            "(e.g. 'lvmbeat <DoNotReply@your-domain>')."
        )
    if not settings.email_recipients:
        raise SettingsError(
            "LVMBEAT_EMAIL_RECIPIENTS is not set; set comma-separated recipients "
            "('Name <addr>' allowed)."
        )
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = settings.email_from_address
    message["To"] = ", ".join(settings.email_recipients)
    if settings.email_reply_to:
        message["Reply-To"] = settings.email_reply_to
    message["Date"] = format_datetime(now)
    sender_domain = parseaddr(settings.email_from_address)[1].rpartition("@")[2]
    if notice_id is not None:
        message["Message-ID"] = f"<lvmbeat.{notice_id}@{sender_domain or 'localhost'}>"
    else:
        message["Message-ID"] = make_msgid(domain=sender_domain or None)
    if in_reply_to is not None:
        message["In-Reply-To"] = in_reply_to
        message["References"] = in_reply_to
    message.set_content(body)
    return message


# --- backends ----------------------------------------------------------------------


def build_mailer(settings: Settings) -> Mailer:
    """The backend the settings ask for; SettingsError names what is missing."""
    backend = settings.resolved_email_backend()
    if backend is EmailBackend.OUTBOX:
        if settings.email_outbox is None:
            raise SettingsError(
                "LVMBEAT_EMAIL_BACKEND=outbox needs LVMBEAT_EMAIL_OUTBOX, the folder "
                "where messages are written."
            )
        return OutboxMailer(settings.email_outbox)
    if backend is EmailBackend.SMTP:
        if not settings.email_host:
            raise SettingsError(
                "LVMBEAT_EMAIL_BACKEND=smtp needs LVMBEAT_EMAIL_HOST (and usually "
                "LVMBEAT_EMAIL_PORT, LVMBEAT_EMAIL_USERNAME, LVMBEAT_EMAIL_PASSWORD)."
            )
        return SmtpMailer(
            host=settings.email_host,
            port=settings.email_port,
            tls=settings.email_tls,
            username=settings.email_username,
            password=(
                settings.email_password.get_secret_value()
                if settings.email_password
                else None
            ),
            ca_file=settings.email_ca_file,
        )
    return AcsMailer.from_settings(settings)


class OutboxMailer(_NothingToClose):
    """Writes each message as `<time>-<id>.eml` in a folder (local runs)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def send(self, message: EmailMessage) -> None:
        await asyncio.to_thread(self._write, message)

    def _write(self, message: EmailMessage) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
            name = f"{stamp}-{make_msgid().strip('<>').split('@')[0]}.eml"
            # Write then rename, so a reader never sees half a message.
            with tempfile.NamedTemporaryFile(
                "wb", dir=self.folder, suffix=".part", delete=False
            ) as handle:
                handle.write(bytes(message))
            path = self.folder / name
            os.replace(handle.name, path)
        except OSError as error:
            raise MailError(
                f"Could not write the message to the outbox {str(self.folder)!r}: "
                f"{error.strerror or error}.",
                ErrorKind.UNREACHABLE,
            ) from error
        log.info("Email %r landed in the outbox: %s", message["Subject"], path)


class SmtpMailer(_NothingToClose):
    """SMTP with STARTTLS and AUTH (when TLS is on), each step bounded by a timeout."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        tls: bool,
        username: str | None = None,
        password: str | None = None,
        ca_file: Path | None = None,
        timeout: float = SMTP_TIMEOUT_SECONDS,
    ) -> None:
        self.host, self.port, self.tls = host, port, tls
        self._username, self._password = username, password
        self._ca_file, self._timeout = ca_file, timeout

    async def send(self, message: EmailMessage) -> None:
        await asyncio.to_thread(self._send, message)

    def _send(self, message: EmailMessage) -> None:
        where = f"SMTP server {self.host}:{self.port}"
        if self._username and not self.tls:
            raise MailError(
                f"Refusing to send the SMTP password to {where} without TLS; "
                "set LVMBEAT_EMAIL_TLS=true.",
                ErrorKind.MISCONFIGURED,
            )
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self._timeout) as smtp:
                if self.tls:
                    smtp.starttls(context=self._tls_context())
                if self._username:
                    smtp.login(self._username, self._password or "")
                smtp.send_message(message)
        except smtplib.SMTPAuthenticationError as error:
            raise MailError(
                f"{where} refused the login of {self._username!r} "
                f"({error.smtp_code}); check LVMBEAT_EMAIL_USERNAME and "
                "LVMBEAT_EMAIL_PASSWORD.",
                ErrorKind.AUTH,
            ) from error
        except smtplib.SMTPResponseException as error:
            reason = error.smtp_error.decode(errors="replace")
            raise MailError(
                f"{where} answered {error.smtp_code} {reason}.", ErrorKind.REFUSED
            ) from error
        except smtplib.SMTPRecipientsRefused as error:
            raise MailError(
                f"{where} refused the recipients {sorted(error.recipients)}.",
                ErrorKind.REFUSED,
            ) from error
        except smtplib.SMTPException as error:
            raise MailError(f"{where} failed: {error}.", ErrorKind.REFUSED) from error
        except ssl.SSLError as error:
            raise MailError(
                f"TLS with {where} failed ({error.reason or error}); check its "
                "certificate (LVMBEAT_EMAIL_CA_FILE for a private CA).",
                ErrorKind.TLS,
            ) from error
        except TimeoutError as error:
            raise MailError(
                f"{where} did not answer within {self._timeout:g} s.",
                ErrorKind.TIMEOUT,
            ) from error
        except OSError as error:
            raise MailError(
                f"Could not reach {where}: {error.strerror or error}.",
                ErrorKind.UNREACHABLE,
            ) from error

    def _tls_context(self) -> ssl.SSLContext:
        if self._ca_file is not None:
            return ssl.create_default_context(cafile=str(self._ca_file))
        return ssl.create_default_context()


class AcsMailer:
    """Azure Communication Services Email (its async client): send, then wait
    (bounded) for the operation's result."""

    def __init__(self, client, *, timeout: float = ACS_TIMEOUT_SECONDS) -> None:
        self._client = client
        self._timeout = timeout

    @classmethod
    def from_settings(cls, settings: Settings) -> AcsMailer:
        from azure.communication.email.aio import EmailClient

        options = {
            "retry_total": 2,
            "connection_timeout": 10,
            "read_timeout": 20,
            "connection_verify": (
                str(settings.email_ca_file) if settings.email_ca_file else True
            ),
        }
        if settings.acs_connection_string is not None:
            client = EmailClient.from_connection_string(
                settings.acs_connection_string.get_secret_value(), **options
            )
        elif settings.acs_endpoint:
            from azure.identity.aio import DefaultAzureCredential

            client = EmailClient(
                settings.acs_endpoint, DefaultAzureCredential(), **options
            )
        else:
            raise SettingsError(
                "LVMBEAT_EMAIL_BACKEND=acs needs LVMBEAT_ACS_ENDPOINT (managed "
                "identity) or LVMBEAT_ACS_CONNECTION_STRING."
            )
        return cls(client)

    async def close(self) -> None:
        await self._client.close()

    async def send(self, message: EmailMessage) -> None:
        from azure.core.exceptions import (
            AzureError,
            ClientAuthenticationError,
            HttpResponseError,
        )

        payload = acs_payload(message)
        try:
            async with asyncio.timeout(self._timeout):
                poller = await self._client.begin_send(
                    payload, polling_interval=ACS_POLL_SECONDS
                )
                result = await poller.result()
        except TimeoutError as error:
            raise MailError(
                f"ACS Email did not confirm the message within {self._timeout:.0f} s.",
                ErrorKind.TIMEOUT,
            ) from error
        except ClientAuthenticationError as error:
            raise MailError(
                f"ACS Email refused our credentials: {_short(error)}", ErrorKind.AUTH
            ) from error
        except HttpResponseError as error:
            raise MailError(
                f"ACS Email refused the message: {_short(error)}", ErrorKind.REFUSED
            ) from error
        except AzureError as error:
            raise MailError(
                f"ACS Email could not be reached: {_short(error)}",
                ErrorKind.UNREACHABLE,
            ) from error
        status = (result or {}).get("status")
        if status != "Succeeded":
            detail = ((result or {}).get("error") or {}).get("message", "")
            raise MailError(
                f"ACS Email reported status {status!r}. {detail}".strip(),
                ErrorKind.REJECTED,
            )


def acs_payload(message: EmailMessage) -> dict:
    """The ACS Email REST body for a composed message."""

    def addresses(header: str) -> list[dict[str, str]]:
        found = getaddresses([str(message.get(header, ""))])
        return [
            {"address": address, **({"displayName": name} if name else {})}
            for name, address in found
            if address
        ]

    sender = parseaddr(str(message["From"]))[1]
    payload = {
        "senderAddress": sender,
        "recipients": {"to": addresses("To")},
        "content": {
            "subject": str(message["Subject"]),
            "plainText": message.get_content(),
        },
        # ACS keeps a customer-supplied Internet Message-ID in RFC 2822 form
        # (learn.microsoft.com/azure/communication-services/concepts/email/
        # email-headers), so a repeat after a crash is recognisable as one, as
        # with SMTP. Threading headers travel the same way.
        "headers": {
            name: str(message[name]) for name in THREAD_HEADERS if message[name]
        },
    }
    if message["Reply-To"]:
        payload["replyTo"] = addresses("Reply-To")
    return payload


# Headers that identify a message and its thread, carried by every backend.
THREAD_HEADERS = ("Message-ID", "In-Reply-To", "References")


def _short(error: Exception) -> str:
    """The first line of an SDK error: enough to act on, no request dump."""
    text = str(getattr(error, "message", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__
