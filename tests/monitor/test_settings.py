"""Operators configure the monitor with app settings; bad ones must be named clearly."""

from __future__ import annotations

import pytest

from lvmbeat_monitor.settings import (
    EmailBackend,
    SettingsError,
    StorageAuth,
    load_settings,
)


def test_defaults_match_the_contract():
    settings = load_settings({})
    assert settings.send_email_after == 300
    assert settings.check_schedule == "*/30 * * * * *"
    assert settings.site_name == "LCO"
    assert settings.table_name == "lvmbeat"


def test_a_malformed_port_names_the_setting_and_the_value():
    with pytest.raises(SettingsError) as error:
        load_settings({"LVMBEAT_EMAIL_PORT": "smtp"})
    assert "LVMBEAT_EMAIL_PORT='smtp'" in str(error.value)


def test_a_malformed_secret_is_named_but_never_shown():
    with pytest.raises(SettingsError) as error:
        load_settings({"LVMBEAT_EMAIL_PASSWORD": "hunter2", "LVMBEAT_EMAIL_PORT": "0"})
    assert "hunter2" not in str(error.value)


def test_a_five_field_schedule_is_refused():
    with pytest.raises(SettingsError, match="LVMBEAT_CHECK_SCHEDULE"):
        load_settings({"LVMBEAT_CHECK_SCHEDULE": "*/5 * * * *"})


def test_recipients_keep_display_names():
    settings = load_settings(
        {"LVMBEAT_EMAIL_RECIPIENTS": "LVM Critical <lvm@x.org>, ops@y.org"}
    )
    assert settings.email_recipients == ("LVM Critical <lvm@x.org>", "ops@y.org")


def test_backend_defaults_to_acs_when_acs_is_configured_else_smtp():
    acs = load_settings({"LVMBEAT_ACS_ENDPOINT": "https://x.communication.azure.com"})
    smtp = load_settings({"LVMBEAT_EMAIL_HOST": "smtp.example.org"})
    assert acs.resolved_email_backend() is EmailBackend.ACS
    assert smtp.resolved_email_backend() is EmailBackend.SMTP
    with pytest.raises(SettingsError, match="LVMBEAT_EMAIL_BACKEND"):
        load_settings({}).resolved_email_backend()


def test_empty_app_settings_count_as_unset():
    settings = load_settings({"LVMBEAT_SEND_EMAIL_AFTER": "", "LVMBEAT_SITE_NAME": " "})
    assert settings.send_email_after == 300
    assert settings.site_name == "LCO"


def test_a_table_endpoint_without_connection_string_means_managed_identity():
    settings = load_settings(
        {"LVMBEAT_TABLE_ENDPOINT": "https://acct.table.core.windows.net/"}
    )
    assert settings.storage_auth is StorageAuth.MANAGED_IDENTITY
    assert settings.table_endpoint == "https://acct.table.core.windows.net"


def test_a_schedule_that_cannot_be_read_is_refused_by_name():
    with pytest.raises(SettingsError, match=r"LVMBEAT_CHECK_SCHEDULE='x \*/5"):
        load_settings({"LVMBEAT_CHECK_SCHEDULE": "x */5 * * * *"})


def test_an_invalid_six_field_schedule_is_refused():
    with pytest.raises(SettingsError, match="LVMBEAT_CHECK_SCHEDULE"):
        load_settings({"LVMBEAT_CHECK_SCHEDULE": "*/70 * * 99 * *"})


def test_the_check_period_comes_from_the_schedule():
    assert load_settings({}).check_period.total_seconds() == 30
    every_5_min = load_settings(
        {"LVMBEAT_CHECK_SCHEDULE": "0 */5 * * * *", "LVMBEAT_SEND_EMAIL_AFTER": "900"}
    )
    assert every_5_min.check_period.total_seconds() == 300


@pytest.mark.parametrize(
    ("grace", "schedule", "refused"),
    [
        ("2", "* * * * * *", False),  # the tests' numbers
        ("30", "*/5 * * * * *", False),  # make run's
        ("300", "*/30 * * * * *", False),  # production's
        ("59", "*/30 * * * * *", True),
        ("300", "0 */5 * * * *", True),
    ],
)
def test_a_grace_shorter_than_two_check_periods_is_refused(grace, schedule, refused):
    env = {"LVMBEAT_SEND_EMAIL_AFTER": grace, "LVMBEAT_CHECK_SCHEDULE": schedule}
    if not refused:
        assert load_settings(env).send_email_after == int(grace)
        return
    with pytest.raises(SettingsError) as error:
        load_settings(env)
    assert "LVMBEAT_SEND_EMAIL_AFTER" in str(error.value)
    assert "LVMBEAT_CHECK_SCHEDULE" in str(error.value)


def test_a_ca_file_that_does_not_exist_is_named(tmp_path):
    missing = tmp_path / "nope.pem"
    with pytest.raises(SettingsError, match="LVMBEAT_EMAIL_CA_FILE"):
        load_settings({"LVMBEAT_EMAIL_CA_FILE": str(missing)})


# --- Slack, webhook, reminders (issue 13) -------------------------------------------


def test_slack_and_the_webhook_are_off_until_their_setting_is_set():
    from lvmbeat_monitor.channels import build_channels

    assert set(build_channels(load_settings({}))) == {"email"}
    on = load_settings(
        {
            "LVMBEAT_SLACK_TOKEN": "xoxb-1",
            "LVMBEAT_WEBHOOK_URL": "https://hooks.example.net/lvmbeat",
        }
    )
    assert set(build_channels(on)) == {"email", "slack", "webhook"}
    assert on.slack_channel == "lvm-alerts" and on.slack_mentions == "@here"
    assert on.slack_api_url == "https://slack.com/api/" and on.remind_every == 0


def test_a_channel_name_may_be_written_with_its_hash():
    assert load_settings({"LVMBEAT_SLACK_CHANNEL": "#lvm-ops"}).slack_channel == (
        "lvm-ops"
    )


def test_a_malformed_webhook_url_is_named_but_never_shown():
    # A webhook URL often carries its receiver's token in the path.
    with pytest.raises(SettingsError) as error:
        load_settings({"LVMBEAT_WEBHOOK_URL": "hooks.example.net/T0KEN-in-path"})
    assert "LVMBEAT_WEBHOOK_URL" in str(error.value)
    assert "T0KEN" not in str(error.value)


def test_reminders_more_often_than_the_checks_are_refused_naming_both_settings():
    with pytest.raises(SettingsError) as error:
        load_settings({"LVMBEAT_REMIND_EVERY": "10"})
    assert "LVMBEAT_REMIND_EVERY=10" in str(error.value)
    assert "LVMBEAT_CHECK_SCHEDULE" in str(error.value)
    assert load_settings({"LVMBEAT_REMIND_EVERY": "1800"}).remind_every == 1800


def test_the_status_url_comes_from_the_host_name_azure_sets():
    assert load_settings({}).status_url is None
    settings = load_settings({"WEBSITE_HOSTNAME": "lvmbeat-lco.azurewebsites.net"})
    assert settings.status_url == "https://lvmbeat-lco.azurewebsites.net/status"


def test_slack_mentions_become_slacks_markup():
    from lvmbeat_monitor.slack import slack_mentions

    assert slack_mentions("@here") == "<!here>"
    assert slack_mentions("@channel, <@U024BE7LH>") == "<!channel> <@U024BE7LH>"
    assert slack_mentions("") == ""
