"""The function app's settings in Bicep: what the monitor needs, by managed identity.

The monitor's settings model (function_app/lvmbeat_monitor/settings.py) names in
SET_BY_INFRA the settings infra must set. These tests hold the template and that set
together, so neither side can change alone. The optional channels' settings (Slack,
webhook, an SMTP relay, reminders), which the template sets only when that channel is
on, must each be a setting the monitor reads.
"""

from __future__ import annotations

from pathlib import Path

from bicep_reader import Deployment, dotted, edit

from lvmbeat_monitor.settings import DEFAULT_CHECK_SCHEDULE, SET_BY_INFRA, Settings


# The channel settings that ../shared/CONTRACT.md (settings table) adds for issue 13,
# which infra sets (LVMBEAT_SLACK_API_URL it leaves at Slack's own). They are written
# here because the settings model that reads them is built on another branch: until
# that branch is merged, the cross-check below tolerates exactly these names, and only
# while the model does not read them; once it does, this set has no effect.
CONTRACT_CHANNEL_SETTINGS = frozenset(
    {
        "LVMBEAT_SLACK_TOKEN",
        "LVMBEAT_SLACK_CHANNEL",
        "LVMBEAT_SLACK_MENTIONS",
        "LVMBEAT_WEBHOOK_URL",
        "LVMBEAT_WEBHOOK_SECRET",
        "LVMBEAT_REMIND_EVERY",
    }
)


def settings_read_by_the_monitor() -> frozenset[str]:
    """The setting names the monitor reads (its model's aliases), plus the channel
    settings of the CONTRACT that its model does not read yet (see above)."""
    aliases = frozenset(field.alias for field in Settings.model_fields.values())
    return aliases | (CONTRACT_CHANNEL_SETTINGS - aliases)


def unread_settings(template_names: set[str], read: frozenset[str]) -> list[str]:
    """LVMBEAT_* settings the template may set that the monitor never reads."""
    monitor_settings = (n for n in template_names if n.startswith("LVMBEAT_"))
    return sorted(name for name in monitor_settings if name not in read)


def settings_mismatch(template_names: set[str], required: frozenset[str]) -> str | None:
    """What differs between the LVMBEAT_* settings Bicep sets and SET_BY_INFRA."""
    set_by_bicep = {name for name in template_names if name.startswith("LVMBEAT_")}
    missing = sorted(required - set_by_bicep)
    unexpected = sorted(set_by_bicep - required)
    if not missing and not unexpected:
        return None
    return (
        f"infra/main.bicep (monitorSettings) lacks {missing} and sets {unexpected} "
        "that SET_BY_INFRA in settings.py does not list; change both together"
    )


def test_bicep_sets_exactly_the_settings_the_monitor_requires_in_azure(deployment):
    always = set(deployment.app_settings(always=True))
    assert settings_mismatch(always, SET_BY_INFRA) is None


def test_every_setting_a_channel_may_add_is_one_the_monitor_reads(deployment):
    may_set = set(deployment.app_settings())
    assert unread_settings(may_set, settings_read_by_the_monitor()) == []
    # The optional channels are really optional: none is set on every deployment.
    optional = may_set - set(deployment.app_settings(always=True))
    assert {
        "LVMBEAT_SLACK_TOKEN",
        "LVMBEAT_WEBHOOK_URL",
        "LVMBEAT_WEBHOOK_SECRET",
        "LVMBEAT_EMAIL_PASSWORD",
        "LVMBEAT_REMIND_EVERY",
    } <= optional


def test_the_channel_check_trips_on_a_setting_nobody_reads(infra_copy: Path):
    edit(
        infra_copy / "main.bicep",
        "  LVMBEAT_SLACK_MENTIONS: slackMentions\n",
        "  LVMBEAT_SLACK_MENTIONS: slackMentions\n  LVMBEAT_SLACK_COLOUR: 'red'\n",
    )
    names = set(Deployment.load(infra_copy).app_settings())
    assert unread_settings(names, settings_read_by_the_monitor()) == [
        "LVMBEAT_SLACK_COLOUR"
    ]


def test_the_contract_tolerance_covers_only_the_contract_channel_settings():
    # A name outside the CONTRACT's list is not excused by it.
    read = settings_read_by_the_monitor()
    assert "LVMBEAT_SLACK_API_URL" not in CONTRACT_CHANNEL_SETTINGS
    assert unread_settings({"LVMBEAT_SLACK_WORKSPACE"}, read) == [
        "LVMBEAT_SLACK_WORKSPACE"
    ]
    assert unread_settings(set(CONTRACT_CHANNEL_SETTINGS), read) == []


def test_a_required_setting_made_conditional_trips_the_cross_check(infra_copy: Path):
    edit(
        infra_copy / "main.bicep",
        "  LVMBEAT_EMAIL_REPLY_TO: emailReplyTo\n",
        "",
    )
    edit(
        infra_copy / "main.bicep",
        "  LVMBEAT_REMIND_EVERY: string(remindEverySeconds)\n",
        "  LVMBEAT_REMIND_EVERY: string(remindEverySeconds)\n"
        "  LVMBEAT_EMAIL_REPLY_TO: emailReplyTo\n",
    )
    always = set(Deployment.load(infra_copy).app_settings(always=True))
    problem = settings_mismatch(always, SET_BY_INFRA)
    assert problem is not None and "LVMBEAT_EMAIL_REPLY_TO" in problem


def test_every_setting_infra_must_set_is_one_the_settings_model_reads():
    aliases = {field.alias for field in Settings.model_fields.values()}
    assert SET_BY_INFRA <= aliases, sorted(SET_BY_INFRA - aliases)


def test_the_cross_check_trips_when_the_template_drops_a_setting(infra_copy: Path):
    edit(infra_copy / "main.bicep", "  LVMBEAT_EMAIL_REPLY_TO: emailReplyTo\n", "")
    names = set(Deployment.load(infra_copy).app_settings())
    problem = settings_mismatch(names, SET_BY_INFRA)
    assert problem is not None and "LVMBEAT_EMAIL_REPLY_TO" in problem


def test_the_cross_check_trips_when_the_template_adds_a_setting(infra_copy: Path):
    edit(
        infra_copy / "main.bicep",
        "  LVMBEAT_EMAIL_BACKEND: emailBackend\n",
        "  LVMBEAT_EMAIL_BACKEND: emailBackend\n"
        "  LVMBEAT_EMAIL_HOST: 'smtp.example.org'\n",
    )
    names = set(Deployment.load(infra_copy).app_settings(always=True))
    problem = settings_mismatch(names, SET_BY_INFRA)
    assert problem is not None and "LVMBEAT_EMAIL_HOST" in problem


def test_the_cross_check_trips_when_the_settings_model_requires_more(deployment):
    grown = SET_BY_INFRA | {"LVMBEAT_SOMETHING_NEW"}
    problem = settings_mismatch(set(deployment.app_settings()), grown)
    assert problem is not None and "LVMBEAT_SOMETHING_NEW" in problem


def test_the_monitor_reads_its_table_and_sends_email_the_azure_way(deployment):
    settings = deployment.app_settings()
    assert settings["LVMBEAT_EMAIL_BACKEND"] == "emailBackend"
    # ACS by managed identity unless the operator asks for an SMTP relay.
    assert deployment.main.parameters["emailBackend"]["default"] == "acs"
    assert dotted(settings["LVMBEAT_TABLE_ENDPOINT"]) == "storage.outputs.tableEndpoint"
    assert dotted(settings["LVMBEAT_ACS_ENDPOINT"]) == "email.outputs.endpoint"
    sender = settings["LVMBEAT_EMAIL_FROM_ADDRESS"]["operator"]["operands"]
    assert dotted(sender["false_value"]) == "email.outputs.senderAddress"
    assert sender["true_value"] == "smtpFromAddress"
    assert settings["LVMBEAT_TABLE_NAME"] == "tableName"
    # The table the monitor is told to use is the table the template creates.
    storage_params = deployment.main.module_params("storage")
    assert storage_params["tableName"] == "tableName"
    _, table = deployment.modules["storage"].only(
        "Microsoft.Storage/storageAccounts/tableServices/tables"
    )
    assert table["name"] == "tableName"
    assert deployment.main.parameters["tableName"]["default"] == "lvmbeat"


def test_the_email_settings_come_from_the_acs_resources(deployment):
    email = deployment.modules["email"]
    assert email.outputs["endpoint"]["value"] == (
        "https://${communicationService.properties.hostName}"
    )
    assert email.outputs["senderAddress"]["value"] == (
        "DoNotReply@${managedDomain.properties.mailFromSenderDomain}"
    )
    _, domain = email.only("Microsoft.Communication/emailServices/domains")
    assert domain["properties"]["domainManagement"] == "AzureManaged"
    _, acs = email.only("Microsoft.Communication/communicationServices")
    assert [dotted(link) for link in acs["properties"]["linkedDomains"]] == [
        "managedDomain.id"
    ]


def test_the_default_check_schedule_is_the_monitor_default(deployment):
    settings = deployment.app_settings()
    assert settings["LVMBEAT_CHECK_SCHEDULE"] == "checkSchedule"
    default = deployment.main.parameters["checkSchedule"]["default"]
    assert default == DEFAULT_CHECK_SCHEDULE == "*/30 * * * * *"


def test_recipients_of_outage_emails_and_watcher_alerts_are_the_same(deployment):
    settings = deployment.app_settings()
    joined = settings["LVMBEAT_EMAIL_RECIPIENTS"]["function"]
    assert joined["type"] == "join"
    assert "emailRecipients" in joined["parameters"].values()
    assert deployment.main.module_params("watcher")["recipients"] == "emailRecipients"


def test_host_storage_telemetry_and_sdks_use_the_managed_identity(deployment):
    settings = deployment.app_settings()
    assert "AzureWebJobsStorage" not in settings  # no connection string form
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    # Blobs for keys and the timer's schedule monitor; tables for the host's diagnostic
    # events ("Connecting to host storage with an identity", functions-reference), which
    # the Storage Table Data Contributor grant in roles.bicep allows.
    for service in ("blob", "table"):
        uri = settings[f"AzureWebJobsStorage__{service}ServiceUri"]
        assert dotted(uri) == f"storage.properties.primaryEndpoints.{service}"
    _, app, _ = deployment.function_app()
    assert app.resources["storage"]["existing"] is True
    assert settings["AzureWebJobsStorage__clientId"] == "identityClientId"
    assert settings["AZURE_CLIENT_ID"] == "identityClientId"
    assert settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] == (
        "ClientId=${identityClientId};Authorization=AAD"
    )
    params = deployment.main.module_params("functionApp")
    assert dotted(params["identityClientId"]) == "identity.outputs.clientId"
    assert dotted(params["identityId"]) == "identity.outputs.id"
