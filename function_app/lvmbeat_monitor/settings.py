"""The monitor's settings: one typed model, read from the environment once, validated.

Azure app settings, `local.settings.json` and the local host all arrive here as
environment variables. Each field's alias is the setting's name, so an error can name
the setting the operator must fix. Values of secret settings never appear in errors.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import timedelta
from email.utils import formataddr, getaddresses
from enum import StrEnum
from pathlib import Path

from typing import Annotated

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from lvmbeat_monitor.schedule import schedule_period


class EmailBackend(StrEnum):
    """Where alert emails go."""

    ACS = "acs"  # Azure Communication Services Email (production)
    SMTP = "smtp"  # any SMTP relay, e.g. for self-hosting
    OUTBOX = "outbox"  # .eml files in a folder, for local runs


class StorageAuth(StrEnum):
    """How the monitor reaches its table."""

    CONNECTION_STRING = "connection_string"
    MANAGED_IDENTITY = "managed_identity"


DEFAULT_CHECK_SCHEDULE = "*/30 * * * * *"
# Slack's Web API; LVMBEAT_SLACK_API_URL points elsewhere (a proxy, the tests' server).
DEFAULT_SLACK_API_URL = "https://slack.com/api/"
TABLE_NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9]{2,62}$")

# The settings the monitor reads in Azure, which infra/main.bicep must set on the
# function app. A test checks the template against this set, so neither side can
# change alone.
SET_BY_INFRA: frozenset[str] = frozenset(
    {
        "LVMBEAT_CHECK_SCHEDULE",
        "LVMBEAT_SEND_EMAIL_AFTER",
        "LVMBEAT_SITE_NAME",
        "LVMBEAT_TABLE_ENDPOINT",
        "LVMBEAT_TABLE_NAME",
        "LVMBEAT_EMAIL_BACKEND",
        "LVMBEAT_ACS_ENDPOINT",
        "LVMBEAT_EMAIL_RECIPIENTS",
        "LVMBEAT_EMAIL_FROM_ADDRESS",
        "LVMBEAT_EMAIL_REPLY_TO",
    }
)

SECRET_SETTINGS: frozenset[str] = frozenset(
    {
        "LVMBEAT_STORAGE_CONNECTION_STRING",
        "AzureWebJobsStorage",
        "LVMBEAT_ACS_CONNECTION_STRING",
        "LVMBEAT_EMAIL_PASSWORD",
        "LVMBEAT_SLACK_TOKEN",
        "LVMBEAT_WEBHOOK_SECRET",
    }
)
# Settings whose values errors never repeat: the secrets, and the webhook URL, which
# often carries its receiver's token in the path (though it is no Key Vault secret).
NEVER_SHOWN: frozenset[str] = SECRET_SETTINGS | {"LVMBEAT_WEBHOOK_URL"}


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names it and says what to set."""


def _parse_bool(value: object) -> object:
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
    return value


class Settings(BaseModel):
    """Every setting the monitor reads. Field aliases are the setting names."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    send_email_after: int = Field(300, alias="LVMBEAT_SEND_EMAIL_AFTER", gt=0)
    check_schedule: str = Field(DEFAULT_CHECK_SCHEDULE, alias="LVMBEAT_CHECK_SCHEDULE")
    site_name: str = Field("LCO", alias="LVMBEAT_SITE_NAME")
    # Days of outage history kept (history.py); older rows are deleted as new ones
    # come. /history?days= reads at most 400 of them.
    history_days: int = Field(400, alias="LVMBEAT_HISTORY_DAYS", ge=1, le=3650)

    storage_connection_string: SecretStr | None = Field(
        None, alias="LVMBEAT_STORAGE_CONNECTION_STRING"
    )
    table_endpoint: str | None = Field(None, alias="LVMBEAT_TABLE_ENDPOINT")
    webjobs_storage: SecretStr | None = Field(None, alias="AzureWebJobsStorage")
    table_name: str = Field("lvmbeat", alias="LVMBEAT_TABLE_NAME")

    email_backend: EmailBackend | None = Field(None, alias="LVMBEAT_EMAIL_BACKEND")
    acs_endpoint: str | None = Field(None, alias="LVMBEAT_ACS_ENDPOINT")
    acs_connection_string: SecretStr | None = Field(
        None, alias="LVMBEAT_ACS_CONNECTION_STRING"
    )
    email_recipients: tuple[str, ...] = Field((), alias="LVMBEAT_EMAIL_RECIPIENTS")
    email_from_address: str | None = Field(None, alias="LVMBEAT_EMAIL_FROM_ADDRESS")
    email_reply_to: str | None = Field(None, alias="LVMBEAT_EMAIL_REPLY_TO")
    email_host: str | None = Field(None, alias="LVMBEAT_EMAIL_HOST")
    email_port: int = Field(587, alias="LVMBEAT_EMAIL_PORT", ge=1, le=65535)
    email_tls: Annotated[bool, BeforeValidator(_parse_bool)] = Field(
        True, alias="LVMBEAT_EMAIL_TLS"
    )
    email_username: str | None = Field(None, alias="LVMBEAT_EMAIL_USERNAME")
    email_password: SecretStr | None = Field(None, alias="LVMBEAT_EMAIL_PASSWORD")
    email_outbox: Path | None = Field(None, alias="LVMBEAT_EMAIL_OUTBOX")
    # Optional PEM bundle the mail backends trust instead of the system's (a private
    # relay, the test suite's CA). Unset in production: system trust.
    email_ca_file: Path | None = Field(None, alias="LVMBEAT_EMAIL_CA_FILE")

    # Slack (slack.py): configured when the token is set.
    slack_token: SecretStr | None = Field(None, alias="LVMBEAT_SLACK_TOKEN")
    slack_channel: str = Field("lvm-alerts", alias="LVMBEAT_SLACK_CHANNEL")
    # Put on alerts and reminders: @here, @channel, <@U…> user ids, <!subteam^…>.
    slack_mentions: str = Field("@here", alias="LVMBEAT_SLACK_MENTIONS")
    slack_api_url: str = Field(DEFAULT_SLACK_API_URL, alias="LVMBEAT_SLACK_API_URL")
    # The webhook (webhook.py): configured when the URL is set.
    webhook_url: SecretStr | None = Field(None, alias="LVMBEAT_WEBHOOK_URL")
    webhook_secret: SecretStr | None = Field(None, alias="LVMBEAT_WEBHOOK_SECRET")
    # Seconds between "still down" reminders during an outage; 0: none.
    remind_every: int = Field(0, alias="LVMBEAT_REMIND_EVERY", ge=0)
    # Set by the platform on every function app: its default host name
    # (<app>.azurewebsites.net; custom domains are not reflected), which messages use
    # to point people at /status and /disable. learn.microsoft.com/azure/app-service/
    # reference-app-settings ("WEBSITE_HOSTNAME"). Unset locally: routes alone.
    website_hostname: str | None = Field(None, alias="WEBSITE_HOSTNAME")

    @field_validator("check_schedule")
    @classmethod
    def _six_fields(cls, value: str) -> str:
        if len(value.split()) != 6:
            raise ValueError(
                "expected a six-field NCRONTAB schedule, seconds first, "
                f"e.g. {DEFAULT_CHECK_SCHEDULE!r}"
            )
        schedule_period(value)  # raises ValueError naming the problem
        return value

    @field_validator("table_name")
    @classmethod
    def _azure_table_name(cls, value: str) -> str:
        if not TABLE_NAME_PATTERN.match(value):
            raise ValueError(
                "expected 3-63 letters and digits starting with a letter "
                "(Azure table naming rules)"
            )
        return value

    @field_validator("table_endpoint", "acs_endpoint")
    @classmethod
    def _https_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("expected a URL such as https://<name>.<service-domain>")
        return value.rstrip("/") if value else value

    @field_validator("slack_api_url")
    @classmethod
    def _api_base(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("expected a URL such as https://slack.com/api/")
        return value if value.endswith("/") else value + "/"

    @field_validator("webhook_url")
    @classmethod
    def _webhook(cls, value: SecretStr | None) -> SecretStr | None:
        # The message never repeats the value: it may hold a credential.
        if value is not None and not re.match(
            r"^https?://[^/\s]+", value.get_secret_value()
        ):
            raise ValueError("expected an http:// or https:// URL")
        return value

    @field_validator("slack_channel")
    @classmethod
    def _channel_name(cls, value: str) -> str:
        value = value.strip().removeprefix("#")
        if not value or any(ch.isspace() for ch in value):
            raise ValueError(
                "expected a Slack channel name (lvm-alerts) or id (C0123456789)"
            )
        return value

    @field_validator("email_recipients", mode="before")
    @classmethod
    def _split_recipients(cls, value: object) -> object:
        if isinstance(value, str):
            parsed = getaddresses([value])
            bad = [name or addr for name, addr in parsed if "@" not in addr]
            if bad:
                raise ValueError(
                    f"could not read an email address in {bad[0]!r}; expected "
                    "comma-separated addresses, 'Name <addr>' allowed"
                )
            return _recipients(value)
        return value

    @field_validator("email_ca_file")
    @classmethod
    def _readable_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError("expected the path of a PEM file that exists")
        return value

    @model_validator(mode="after")
    def _grace_spans_two_checks(self) -> Settings:
        # An alert must rest on at least two checks that watched the silence
        # (decide.py): a shorter grace could alert on one check's word.
        period = self.check_period.total_seconds()
        if self.send_email_after < 2 * period:
            raise ValueError(
                f"LVMBEAT_SEND_EMAIL_AFTER={self.send_email_after} is shorter than two "
                f"check periods of LVMBEAT_CHECK_SCHEDULE={self.check_schedule!r} "
                f"({period:g} s each); raise LVMBEAT_SEND_EMAIL_AFTER to at least "
                f"{2 * period:g} or check more often"
            )
        return self

    @model_validator(mode="after")
    def _reminders_apart(self) -> Settings:
        # A check queues at most one reminder, so a shorter interval could not be kept.
        period = self.check_period.total_seconds()
        if 0 < self.remind_every < period:
            raise ValueError(
                f"LVMBEAT_REMIND_EVERY={self.remind_every} is shorter than one check "
                f"period of LVMBEAT_CHECK_SCHEDULE={self.check_schedule!r} "
                f"({period:g} s); set it to 0 (no reminders) or at least {period:g}"
            )
        return self

    @property
    def status_url(self) -> str | None:
        """Where people see the monitor's state, when the host name is known."""
        if not self.website_hostname:
            return None
        return f"https://{self.website_hostname.strip().rstrip('/')}/status"

    @property
    def check_period(self) -> timedelta:
        """The longest time between two scheduled checks."""
        return schedule_period(self.check_schedule)

    @property
    def storage_auth(self) -> StorageAuth:
        if self.storage_connection_string is not None:
            return StorageAuth.CONNECTION_STRING
        if self.table_endpoint is not None:
            return StorageAuth.MANAGED_IDENTITY
        return StorageAuth.CONNECTION_STRING

    def storage_connection(self) -> SecretStr:
        """The connection string to use, when the table is reached with one."""
        connection = self.storage_connection_string or self.webjobs_storage
        if connection is None:
            raise SettingsError(
                "No table storage is configured: set LVMBEAT_STORAGE_CONNECTION_STRING "
                "(Azurite locally), or LVMBEAT_TABLE_ENDPOINT "
                "(https://<account>.table.core.windows.net, with managed identity), "
                "or AzureWebJobsStorage."
            )
        return connection

    def resolved_email_backend(self) -> EmailBackend:
        """The backend asked for, else acs when ACS is configured, else smtp."""
        if self.email_backend is not None:
            return self.email_backend
        if self.acs_endpoint or self.acs_connection_string:
            return EmailBackend.ACS
        if self.email_host:
            return EmailBackend.SMTP
        raise SettingsError(
            "No email backend is configured: set LVMBEAT_EMAIL_BACKEND (acs, smtp or "
            "outbox), or LVMBEAT_ACS_ENDPOINT / LVMBEAT_ACS_CONNECTION_STRING for ACS "
            "Email, or LVMBEAT_EMAIL_HOST for SMTP."
        )


def _recipients(value: str) -> tuple[str, ...]:
    """Split on commas outside quotes, keeping display names ('Name <addr>')."""
    return tuple(formataddr(pair) for pair in getaddresses([value]))


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the settings; a bad one raises SettingsError naming it."""
    environ = os.environ if environ is None else environ
    names = {field.alias for field in Settings.model_fields.values()}
    # Azure shows an app setting left empty as ""; that means unset, not invalid.
    present = {name: environ[name] for name in names if environ.get(name, "").strip()}
    try:
        return Settings.model_validate(present)
    except ValidationError as error:
        raise SettingsError(_describe(error, present)) from None


def _describe(error: ValidationError, given: Mapping[str, str]) -> str:
    problems = []
    for detail in error.errors():
        reason = detail["msg"].removeprefix("Value error, ")
        if not detail["loc"]:  # a rule across settings: its message names them
            problems.append(f"{reason}.")
            continue
        name = str(detail["loc"][0])
        if name in NEVER_SHOWN:
            problems.append(f"Setting {name} is malformed: {reason}.")
        else:
            problems.append(f"Setting {name}={given.get(name)!r} is invalid: {reason}.")
    return " ".join(problems)
