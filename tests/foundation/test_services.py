"""The real services the suite stands on behave as the code under test expects."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

import pytest
from azure.core import MatchConditions
from azure.core.exceptions import ResourceModifiedError
from azure.data.tables import TableServiceClient, UpdateMode


def test_azurite_rejects_a_stale_etag(azurite, table_name):
    """Our exactly-once alerts rely on this: an update with an old ETag must fail."""
    service = TableServiceClient.from_connection_string(azurite.connection_string)
    table = service.create_table(table_name)
    try:
        table.create_entity({"PartitionKey": "p", "RowKey": "r", "n": 1})
        first = table.get_entity("p", "r")
        table.update_entity(
            {"PartitionKey": "p", "RowKey": "r", "n": 2},
            mode=UpdateMode.REPLACE,
            etag=first.metadata["etag"],
            match_condition=MatchConditions.IfNotModified,
        )
        with pytest.raises(ResourceModifiedError):
            table.update_entity(
                {"PartitionKey": "p", "RowKey": "r", "n": 3},
                mode=UpdateMode.REPLACE,
                etag=first.metadata["etag"],
                match_condition=MatchConditions.IfNotModified,
            )
        assert table.get_entity("p", "r")["n"] == 2
    finally:
        service.delete_table(table_name)


def test_smtp_server_requires_tls_and_auth_and_keeps_the_message(
    smtp_tls_server, ca_bundle
):
    message = EmailMessage()
    message["From"] = "LVM <monitor@example.org>"
    message["To"] = "Critical <lvm-critical@example.org>"
    message["Subject"] = "hello"
    message.set_content("body")
    client_context = ssl.create_default_context(cafile=str(ca_bundle))
    with smtplib.SMTP(smtp_tls_server.host, smtp_tls_server.port, timeout=10) as smtp:
        with pytest.raises(smtplib.SMTPException):
            smtp.login("lvm-monitor", "s3cret-pw")  # refused before STARTTLS
        smtp.starttls(context=client_context)
        smtp.login("lvm-monitor", "s3cret-pw")
        smtp.send_message(message)
    (received,) = smtp_tls_server.sink.wait_for(1)
    assert received.message["Subject"] == "hello"
    assert received.authenticated_as == "lvm-monitor"
    assert received.over_tls


def test_rabbitmq_accepts_amqp_connections(rabbitmq):
    import asyncio

    import aio_pika

    async def connect() -> bool:
        connection = await aio_pika.connect_robust(rabbitmq["url"], timeout=5)
        await connection.close()
        return True

    assert asyncio.run(connect())
