"""A real SMTP server (aiosmtpd) that keeps what it receives, for tests and local runs.

It can require STARTTLS and AUTH, like the Azure Communication Services SMTP relay does,
so the monitor's SMTP backend meets the same handshake it meets in production.
"""

from __future__ import annotations

import ssl
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from lvmbeat_local.dev.ports import free_port


@dataclass
class ReceivedMail:
    """One message as the server got it."""

    envelope_from: str
    envelope_to: list[str]
    message: EmailMessage
    authenticated_as: str | None
    over_tls: bool


@dataclass
class SmtpSink:
    """Collects messages; `fail_next` makes the next N deliveries fail with a 451."""

    messages: list[ReceivedMail] = field(default_factory=list)
    fail_next: int = 0
    arrived: threading.Condition = field(default_factory=threading.Condition)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd API
        with self.arrived:
            if self.fail_next > 0:
                self.fail_next -= 1
                return "451 Requested action aborted: local test failure"
            message = message_from_bytes(envelope.content, policy=policy.default)
            auth = session.auth_data
            self.messages.append(
                ReceivedMail(
                    envelope_from=envelope.mail_from,
                    envelope_to=list(envelope.rcpt_tos),
                    message=message,
                    authenticated_as=(
                        auth.login.decode() if isinstance(auth, LoginPassword) else None
                    ),
                    over_tls=session.ssl is not None,
                )
            )
            self.arrived.notify_all()
        return "250 Message accepted for delivery"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedMail]:
        """Block until at least `count` messages arrived; return them all."""
        with self.arrived:
            if not self.arrived.wait_for(
                lambda: len(self.messages) >= count, timeout=timeout
            ):
                raise TimeoutError(
                    f"expected {count} message(s), got {len(self.messages)} "
                    f"within {timeout} s"
                )
            return list(self.messages)


class _Authenticator:
    def __init__(self, username: str, password: str) -> None:
        self.username = username
        self.password = password

    def __call__(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == self.username
            and auth_data.password.decode() == self.password
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data)


@dataclass
class SmtpServer:
    """A running SMTP server around a sink."""

    host: str
    port: int
    sink: SmtpSink
    controller: Controller
    username: str | None = None
    password: str | None = None

    def stop(self) -> None:
        self.controller.stop()


def start_smtp_server(
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    tls_context: ssl.SSLContext | None = None,
    username: str | None = None,
    password: str | None = None,
) -> SmtpServer:
    """Start aiosmtpd in its own thread. With `tls_context`, STARTTLS is required;
    with `username`/`password`, AUTH LOGIN/PLAIN is required (only after TLS)."""
    sink = SmtpSink()
    port = port or free_port(host)
    kwargs: dict = {}
    if tls_context is not None:
        kwargs.update(tls_context=tls_context, require_starttls=True)
    if username is not None:
        kwargs.update(
            authenticator=_Authenticator(username, password or ""),
            auth_required=True,
            auth_require_tls=tls_context is not None,
        )
    controller = Controller(sink, hostname=host, port=port, **kwargs)
    controller.start()  # returns once the server answers its own probe
    return SmtpServer(host, port, sink, controller, username, password)
