"""The emails people get, through each backend, against real local servers."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.utils import parsedate_to_datetime

import pytest
from monitor_support import START

from lvmbeat_monitor.mail import (
    AcsMailer,
    MailError,
    OutboxMailer,
    SmtpMailer,
    build_mailer,
    compose,
)
from lvmbeat_monitor.messages import Site, render
from lvmbeat_monitor.model import Notice, NoticeKind
from lvmbeat_monitor.settings import SettingsError, load_settings


BASE = {
    "LVMBEAT_EMAIL_FROM_ADDRESS": "lvmbeat monitor <lvmbeat@monitor.test>",
    "LVMBEAT_EMAIL_RECIPIENTS": (
        'LVM Critical <lvm@lco.test>, "Ops, LCO" <ops@lco.test>'
    ),
    "LVMBEAT_EMAIL_REPLY_TO": "LVM Ops <reply@lco.test>",
}


def alert_message(settings):
    notice = Notice(
        id="n1",
        kind=NoticeKind.DOWN,
        decided_at=START,
        last_seen=START.replace(minute=0),
        silent_since=START,
    )
    message = render(notice, START, Site(settings.site_name))
    return compose(settings, message.subject, message.text, START, notice_id=notice.id)


def test_a_message_has_the_headers_mail_clients_expect():
    message = alert_message(load_settings(BASE))
    assert message["Subject"] == "LCO internet is down"
    assert message["From"] == "lvmbeat monitor <lvmbeat@monitor.test>"
    assert [a.display_name for a in message["To"].addresses] == [
        "LVM Critical",
        "Ops, LCO",
    ]
    assert message["Reply-To"] == "LVM Ops <reply@lco.test>"
    assert parsedate_to_datetime(message["Date"]) == START
    assert message["Message-ID"].endswith("@monitor.test>")
    assert message.get_content_type() == "text/plain"
    assert "Last heartbeat: 2026-03-01 12:00:00 UTC" in message.get_content()


def test_every_attempt_at_one_notice_carries_the_same_message_id():
    """A resend after a crash mid-send can then be dropped by Message-ID dedup."""
    settings = load_settings(BASE)
    first = compose(settings, "s", "b", START, notice_id="n1")
    again = compose(settings, "s", "b", START.replace(minute=5), notice_id="n1")
    other = compose(settings, "s", "b", START, notice_id="n2")
    assert first["Message-ID"] == again["Message-ID"] == "<lvmbeat.n1@monitor.test>"
    assert other["Message-ID"] != first["Message-ID"]


def test_the_all_clear_says_how_long_the_outage_lasted():
    notice = Notice(
        id="n2",
        kind=NoticeKind.UP,
        decided_at=START,
        last_seen=START,
        silent_since=START,
        back_at=START.replace(hour=13, minute=2, second=5),
    )
    message = render(notice, START, Site("LCO"))
    assert message.subject == "RESOLVED: LCO internet is up"
    assert "lasted about 1 h 2 min 5 s" in message.text


def test_missing_sender_or_recipients_are_named():
    with pytest.raises(SettingsError, match="LVMBEAT_EMAIL_FROM_ADDRESS"):
        alert_message(load_settings({"LVMBEAT_EMAIL_RECIPIENTS": "a@b.test"}))
    with pytest.raises(SettingsError, match="LVMBEAT_EMAIL_RECIPIENTS"):
        alert_message(load_settings({"LVMBEAT_EMAIL_FROM_ADDRESS": "a@b.test"}))


# --- smtp ------------------------------------------------------------------------


def smtp_settings(server, ca_bundle, **extra):
    return load_settings(
        {
            **BASE,
            "LVMBEAT_EMAIL_HOST": server.host,
            "LVMBEAT_EMAIL_PORT": str(server.port),
            "LVMBEAT_EMAIL_TLS": "true",
            "LVMBEAT_EMAIL_USERNAME": "lvm-monitor",
            "LVMBEAT_EMAIL_PASSWORD": "s3cret-pw",
            "LVMBEAT_EMAIL_CA_FILE": str(ca_bundle),
            **extra,
        }
    )


async def test_smtp_delivers_over_starttls_with_auth(smtp_tls_server, ca_bundle):
    settings = smtp_settings(smtp_tls_server, ca_bundle)
    mailer = build_mailer(settings)
    assert isinstance(mailer, SmtpMailer)
    await mailer.send(alert_message(settings))
    (mail,) = smtp_tls_server.sink.wait_for(1)
    assert mail.over_tls and mail.authenticated_as == "lvm-monitor"
    assert sorted(mail.envelope_to) == ["lvm@lco.test", "ops@lco.test"]
    assert mail.message["Subject"] == "LCO internet is down"


async def test_a_wrong_smtp_password_is_reported_without_the_password(
    smtp_tls_server, ca_bundle
):
    settings = smtp_settings(
        smtp_tls_server, ca_bundle, LVMBEAT_EMAIL_PASSWORD="wrong-pw-123"
    )
    with pytest.raises(MailError) as error:
        await build_mailer(settings).send(alert_message(settings))
    assert "refused the login" in str(error.value)
    assert error.value.kind == "auth"  # what anonymous /status may show
    assert "wrong-pw-123" not in str(error.value)


async def test_an_untrusted_certificate_fails_with_a_hint(smtp_tls_server, ca_bundle):
    settings = smtp_settings(smtp_tls_server, ca_bundle)
    mailer = SmtpMailer(
        host=smtp_tls_server.host, port=smtp_tls_server.port, tls=True
    )  # system trust only: the test CA is unknown
    with pytest.raises(MailError, match="LVMBEAT_EMAIL_CA_FILE"):
        await mailer.send(alert_message(settings))


async def test_a_password_is_never_sent_without_tls(smtp_server):
    mailer = SmtpMailer(
        host=smtp_server.host,
        port=smtp_server.port,
        tls=False,
        username="u",
        password="p",
    )
    with pytest.raises(MailError, match="without TLS"):
        await mailer.send(alert_message(load_settings(BASE)))
    assert smtp_server.sink.messages == []


# --- outbox ------------------------------------------------------------------------


async def test_the_outbox_writes_one_eml_file_per_message(tmp_path, caplog):
    caplog.set_level("INFO", logger="lvmbeat_monitor.mail")
    settings = load_settings(
        {
            **BASE,
            "LVMBEAT_EMAIL_BACKEND": "outbox",
            "LVMBEAT_EMAIL_OUTBOX": str(tmp_path / "outbox"),
        }
    )
    mailer = build_mailer(settings)
    assert isinstance(mailer, OutboxMailer)
    await mailer.send(alert_message(settings))
    await mailer.send(alert_message(settings))
    files = sorted((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 2
    parsed = message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert parsed["Subject"] == "LCO internet is down"
    assert list((tmp_path / "outbox").glob("*.part")) == []
    # One line per message that lands, naming it, so `make run` shows each email.
    landed = [r.getMessage() for r in caplog.records if "landed" in r.getMessage()]
    assert len(landed) == 2 and str(files[0]) in "".join(landed)


def test_the_outbox_needs_its_folder():
    with pytest.raises(SettingsError, match="LVMBEAT_EMAIL_OUTBOX"):
        build_mailer(load_settings({**BASE, "LVMBEAT_EMAIL_BACKEND": "outbox"}))


# --- acs ---------------------------------------------------------------------------


def acs_settings(endpoint, ca_bundle):
    return load_settings(
        {
            **BASE,
            "LVMBEAT_ACS_CONNECTION_STRING": endpoint.connection_string,
            "LVMBEAT_EMAIL_CA_FILE": str(ca_bundle),
        }
    )


async def test_acs_sends_a_signed_request_and_waits_for_success(
    acs_endpoint, ca_bundle
):
    settings = acs_settings(acs_endpoint, ca_bundle)
    mailer = build_mailer(settings)
    assert isinstance(mailer, AcsMailer)
    await mailer.send(alert_message(settings))
    assert acs_endpoint.signatures_ok == [True]
    assert acs_endpoint.api_versions == ["2025-09-01"]
    (payload,) = acs_endpoint.received
    assert payload["senderAddress"] == "lvmbeat@monitor.test"
    assert payload["recipients"]["to"] == [
        {"address": "lvm@lco.test", "displayName": "LVM Critical"},
        {"address": "ops@lco.test", "displayName": "Ops, LCO"},
    ]
    assert payload["replyTo"] == [
        {"address": "reply@lco.test", "displayName": "LVM Ops"}
    ]
    assert payload["content"]["subject"] == "LCO internet is down"
    assert "Last heartbeat" in payload["content"]["plainText"]
    # The notice's Message-ID travels as a custom header, so a repeat after a crash
    # is recognisable in production as it is over SMTP.
    assert payload["headers"] == {"Message-ID": "<lvmbeat.n1@monitor.test>"}


async def test_acs_reports_a_failed_operation(acs_endpoint, ca_bundle):
    acs_endpoint.fail_with = "Failed"
    settings = acs_settings(acs_endpoint, ca_bundle)
    with pytest.raises(MailError) as error:
        await build_mailer(settings).send(alert_message(settings))
    assert acs_endpoint.access_key not in str(error.value)
    assert error.value.kind == "refused"  # the poller raises on a Failed status


def test_acs_without_endpoint_or_connection_string_is_named():
    with pytest.raises(SettingsError, match="LVMBEAT_ACS_ENDPOINT"):
        build_mailer(load_settings({**BASE, "LVMBEAT_EMAIL_BACKEND": "acs"}))
