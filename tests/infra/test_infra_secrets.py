"""The channel secrets in Azure: a Key Vault the app reads by its identity, and app
settings that point into it, so no secret is ever in the template, its parameters or
its outputs (issue 13, "Secrets in Azure").

Sources: "Use Key Vault references as app settings in Azure App Service and Azure
Functions" (https://learn.microsoft.com/azure/app-service/app-service-key-vault-references)
for the reference syntax and keyVaultReferenceIdentity; Key Vault's RBAC guide
(https://learn.microsoft.com/azure/key-vault/general/rbac-guide) for the role ID.
"""

from __future__ import annotations

import re
from pathlib import Path

from typing import Any

from bicep_reader import REPO_ROOT, Deployment, Template, dotted, edit

from lvmbeat_monitor.settings import SECRET_SETTINGS


KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
DEPLOY_GUIDE = REPO_ROOT / "docs" / "deploy.md"

# What a setting name says about its value: a name like these holds a secret.
SECRET_NAME = re.compile(r"token|secret|password", re.IGNORECASE)

# A reference into the vault this deployment creates, by name, latest version (so a
# rotated secret is picked up without a redeploy).
VAULT_REFERENCE = re.compile(
    r"^@Microsoft\.KeyVault\(VaultName=\$\{vault\.outputs\.name\};"
    r"SecretName=(?P<secret>[A-Za-z0-9-]{1,127})\)$"
)


def secret_settings(deployment: Deployment) -> dict[str, Any]:
    """App settings (any branch) that hold a secret, by the model's list or by name."""
    return {
        name: value
        for name, value in deployment.app_settings().items()
        if name in SECRET_SETTINGS or SECRET_NAME.search(name)
    }


def not_vault_references(deployment: Deployment) -> list[str]:
    """Secret settings whose value is anything but a reference into our vault."""
    return sorted(
        f"{name} = {value!r}"
        for name, value in secret_settings(deployment).items()
        if not (isinstance(value, str) and VAULT_REFERENCE.match(value))
    )


def referenced_secrets(deployment: Deployment) -> dict[str, str]:
    """setting name -> the vault secret it reads."""
    found = {}
    for name, value in deployment.app_settings().items():
        match = VAULT_REFERENCE.match(value) if isinstance(value, str) else None
        if match:
            found[name] = match["secret"]
    return found


def secret_named_parameters_and_outputs(templates: list[Template]) -> list[str]:
    """Parameters named like a secret that are not @secure(), and every output so named.

    A @secure() parameter would still put the secret in whoever deploys' hands and in
    the deployment's inputs; none is needed, and test_infra_template forbids @secure()
    outright. This check is the one that names the offending declaration.
    """
    found = []
    for template in templates:
        for name, spec in template.parameters.items():
            secure = any(d.get("type") == "secure" for d in spec.get("decorators", []))
            if SECRET_NAME.search(name) and not secure:
                found.append(f"{template.path.name}: param {name}")
        for name in template.outputs:
            if SECRET_NAME.search(name):
                found.append(f"{template.path.name}: output {name}")
    return found


def test_the_vault_authorizes_by_rbac_and_keeps_deleted_secrets(deployment):
    _, vault = deployment.modules["vault"].only("Microsoft.KeyVault/vaults")
    properties = vault["properties"]
    assert properties["enableRbacAuthorization"] is True
    assert "accessPolicies" not in properties
    assert properties["enableSoftDelete"] is True
    assert properties["softDeleteRetentionInDays"] == 90
    assert properties["enablePurgeProtection"] is True
    for other_reader in ("Deployment", "DiskEncryption", "TemplateDeployment"):
        assert properties[f"enabledFor{other_reader}"] is False
    assert deployment.main.modules["vault"]["detail"]["path"] == (
        "modules/keyvault.bicep"
    )


def test_the_vault_audit_log_goes_to_the_monitor_workspace(deployment):
    vault_module = deployment.modules["vault"]
    _, audit = vault_module.only("Microsoft.Insights/diagnosticSettings")
    assert audit["scope"] == "vault"
    assert audit["properties"]["logs"] == [{"categoryGroup": "audit", "enabled": True}]
    passed = deployment.main.module_params("vault")["workspaceId"]
    assert dotted(passed) == "monitoring.outputs.workspaceId"


def test_the_app_identity_may_read_the_secrets_of_the_vault_its_references_name(
    deployment,
):
    roles = deployment.modules["roles"]
    assert dotted(deployment.main.module_params("roles")["keyVaultName"]) == (
        "vault.outputs.name"
    )
    readers = []
    for symbol in roles.symbols_of_type("Microsoft.Authorization/roleAssignments"):
        config = roles.resource_config(symbol)
        role = config["properties"]["roleDefinitionId"]["function"]["parameters"]
        role_id = roles.variables.get(role["resource_name_1"], {}).get("value")
        if role_id == KEY_VAULT_SECRETS_USER:
            readers.append(config)
    assert len(readers) == 1
    (reader,) = readers
    scope = roles.resources[reader["scope"]]
    assert scope["type"] == "Microsoft.KeyVault/vaults" and scope["existing"]
    assert scope["config"]["name"] == "keyVaultName"
    assert reader["properties"]["principalId"] == "principalId"
    assert dotted(deployment.main.module_params("roles")["principalId"]) == (
        "identity.outputs.principalId"
    )


def test_references_resolve_with_the_app_identity(deployment):
    # Without keyVaultReferenceIdentity, App Service resolves references with a
    # system-assigned identity, which this app does not have.
    _, _, site = deployment.function_app()
    assert site["properties"]["keyVaultReferenceIdentity"] == "identityId"
    assert site["identity"]["type"] == "UserAssigned"
    assert list(site["identity"]["userAssignedIdentities"]) == ["'${identityId}'"]


def test_every_secret_setting_is_a_reference_into_the_vault(deployment):
    secrets = secret_settings(deployment)
    assert {
        "LVMBEAT_SLACK_TOKEN",
        "LVMBEAT_WEBHOOK_SECRET",
        "LVMBEAT_EMAIL_PASSWORD",
    } <= set(secrets)
    assert not_vault_references(deployment) == []
    assert referenced_secrets(deployment) == {
        "LVMBEAT_SLACK_TOKEN": "slack-token",
        "LVMBEAT_WEBHOOK_SECRET": "webhook-secret",
        "LVMBEAT_EMAIL_PASSWORD": "smtp-password",
    }


def test_a_secret_setting_exists_only_when_its_channel_is_turned_on(deployment):
    # A reference that does not resolve (the secret not set yet) reaches the app as
    # the text "@Microsoft.KeyVault(...)", which the monitor would send as a token.
    always = set(deployment.app_settings(always=True))
    assert always.isdisjoint(secret_settings(deployment))


def test_the_secret_check_trips_on_a_literal_secret(infra_copy: Path):
    edit(
        infra_copy / "main.bicep",
        "  LVMBEAT_SLACK_TOKEN: '@Microsoft.KeyVault(VaultName=${vault.outputs.name};"
        "SecretName=slack-token)'\n",
        "  LVMBEAT_SLACK_TOKEN: 'xoxb-not-a-real-token'\n",
    )
    assert not_vault_references(Deployment.load(infra_copy)) == [
        "LVMBEAT_SLACK_TOKEN = 'xoxb-not-a-real-token'"
    ]


def test_the_secret_check_trips_on_a_secret_passed_as_a_parameter(infra_copy: Path):
    main_bicep = infra_copy / "main.bicep"
    edit(
        main_bicep,
        "  LVMBEAT_WEBHOOK_SECRET: '@Microsoft.KeyVault("
        "VaultName=${vault.outputs.name};SecretName=webhook-secret)'\n",
        "  LVMBEAT_WEBHOOK_SECRET: webhookSigningKey\n",
    )
    edit(
        main_bicep,
        "param webhookSigned bool = false\n",
        "param webhookSigned bool = false\n\nparam webhookSigningKey string = ''\n",
    )
    deployment = Deployment.load(infra_copy)
    assert not_vault_references(deployment) == [
        "LVMBEAT_WEBHOOK_SECRET = 'webhookSigningKey'"
    ]


def test_the_secret_check_trips_on_a_reference_into_another_vault(infra_copy: Path):
    edit(
        infra_copy / "main.bicep",
        "VaultName=${vault.outputs.name};SecretName=smtp-password",
        "VaultName=kv-somebody-else;SecretName=smtp-password",
    )
    found = not_vault_references(Deployment.load(infra_copy))
    assert [line.split(" = ")[0] for line in found] == ["LVMBEAT_EMAIL_PASSWORD"]


def test_no_parameter_or_output_is_named_like_a_secret(deployment):
    assert secret_named_parameters_and_outputs(deployment.templates()) == []


def test_the_name_check_trips_on_a_token_parameter_and_a_secret_output(
    infra_copy: Path,
):
    edit(
        infra_copy / "main.bicep",
        "param slackEnabled bool = false\n",
        "param slackEnabled bool = false\n\nparam slackToken string = ''\n",
    )
    edit(
        infra_copy / "modules" / "keyvault.bicep",
        "output uri string = vault.properties.vaultUri\n",
        "output uri string = vault.properties.vaultUri\n"
        "output webhookSecretUri string = '${vault.properties.vaultUri}secrets/x'\n",
    )
    found = secret_named_parameters_and_outputs(Deployment.load(infra_copy).templates())
    assert found == [
        "main.bicep: param slackToken",
        "keyvault.bicep: output webhookSecretUri",
    ]


def test_the_deploy_guide_sets_every_secret_the_app_reads(deployment):
    guide = DEPLOY_GUIDE.read_text()
    for setting, secret in referenced_secrets(deployment).items():
        command = re.compile(
            r"az keyvault secret set\b[^\n]*--vault-name[^\n]*--name "
            + re.escape(secret)
            + r"\b"
        )
        assert command.search(guide), f"docs/deploy.md: no command sets {secret}"
        assert setting in guide, f"docs/deploy.md does not name {setting}"


def test_channel_parameters_default_to_the_contract_defaults(deployment):
    parameters = deployment.main.parameters
    defaults = {name: parameters[name]["default"] for name in parameters}
    assert defaults["slackChannel"] == "lvm-alerts"
    assert defaults["slackMentions"] == "@here"
    assert defaults["remindEverySeconds"] == 0
    assert defaults["webhookUrl"] == ""
    # Off until the operator has put the secret in the vault (docs/deploy.md).
    assert defaults["slackEnabled"] is False
    assert defaults["webhookSigned"] is False
    settings = deployment.app_settings()
    assert settings["LVMBEAT_SLACK_CHANNEL"] == "slackChannel"
    assert settings["LVMBEAT_SLACK_MENTIONS"] == "slackMentions"
    assert settings["LVMBEAT_WEBHOOK_URL"] == "webhookUrl"
    reminder = settings["LVMBEAT_REMIND_EVERY"]["function"]
    assert reminder["parameters"]["value_to_convert"] == "remindEverySeconds"
