"""What went wrong with a delivery, in two registers.

The kind (`ErrorKind`) is safe to show anyone: anonymous `/status` and the status page
show it. The text names servers, users and recipients, so it goes only to the logs and
to keyed callers (`/notify`, `/email-test`), never into the stored state.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorKind(StrEnum):
    """Why a send failed, without any detail an outsider should not see."""

    MISCONFIGURED = "misconfigured"  # a setting is missing or malformed
    UNREACHABLE = "unreachable"  # could not connect (DNS, refused, network)
    TIMEOUT = "timeout"  # no answer within the deadline
    TLS = "tls"  # the TLS handshake failed (certificate)
    AUTH = "auth"  # credentials refused
    REFUSED = "refused"  # the service answered with an error
    RATE_LIMITED = "rate_limited"  # the service asked us to slow down (HTTP 429)
    REJECTED = "rejected"  # accepted, then reported as failed (ACS status)
    INTERNAL = "internal"  # a bug of ours; the log has the traceback


class DeliveryError(RuntimeError):
    """A channel could not deliver a message. str() is the detail (for logs and keyed
    callers); `kind` is what anonymous answers may show."""

    def __init__(self, detail: str, kind: ErrorKind = ErrorKind.REFUSED) -> None:
        super().__init__(detail)
        self.kind = kind
