"""infra/main.bicep as an operator relies on it: what it creates, who may do what, what
it prints at the end, and that no secret is in it. Read with pycep, as checkov does."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from bicep_reader import (
    INFRA_DIR,
    Deployment,
    Template,
    all_bicep_files,
    dotted,
    edit,
    parameters_file_names,
)


CHECKOV = Path(sys.executable).with_name("checkov")

# Built-in role definition IDs (Azure RBAC built-in roles reference).
STORAGE_BLOB_DATA_OWNER = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
STORAGE_TABLE_DATA_CONTRIBUTOR = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3"
MONITORING_METRICS_PUBLISHER = "3913510d-42f4-4e42-8a64-420c390055eb"
COMMUNICATION_AND_EMAIL_SERVICE_OWNER = "09976791-48a7-449e-bb21-39d1a415f350"
# "Read secret contents" (Key Vault's RBAC guide, built-in roles table).
KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"


def test_every_template_parses_so_checkov_scans_it():
    # checkov skips a file it cannot parse and still passes; this makes that loud.
    files = all_bicep_files()
    assert INFRA_DIR / "main.bicep" in files
    for path in files:
        Template.load(path)


def test_main_calls_every_module_in_the_modules_folder(deployment):
    called = {template.path for template in deployment.modules.values()}
    assert called == set((INFRA_DIR / "modules").glob("*.bicep"))


def test_it_creates_everything_the_monitor_needs(deployment):
    assert deployment.resource_types() >= {
        "Microsoft.Web/serverfarms",
        "Microsoft.Web/sites",
        "Microsoft.Storage/storageAccounts",
        "Microsoft.Storage/storageAccounts/blobServices/containers",
        "Microsoft.Storage/storageAccounts/tableServices/tables",
        "Microsoft.ManagedIdentity/userAssignedIdentities",
        "Microsoft.Authorization/roleAssignments",
        "Microsoft.Communication/emailServices",
        "Microsoft.Communication/emailServices/domains",
        "Microsoft.Communication/communicationServices",
        "Microsoft.OperationalInsights/workspaces",
        "Microsoft.Insights/components",
        "Microsoft.Insights/actionGroups",
        "Microsoft.Insights/scheduledQueryRules",
        "Microsoft.Insights/webtests",
        "Microsoft.Insights/metricAlerts",
        "Microsoft.KeyVault/vaults",
    }


def test_the_monitor_runs_python_312_on_a_linux_flex_consumption_plan(deployment):
    _, app, site = deployment.function_app()
    _, plan = app.only("Microsoft.Web/serverfarms")
    assert plan["sku"] == {"tier": "FlexConsumption", "name": "FC1"}
    assert plan["properties"]["reserved"] is True
    assert site["kind"] == "functionapp,linux"
    config = site["properties"]["functionAppConfig"]
    assert config["runtime"] == {"name": "python", "version": "3.12"}
    assert site["properties"]["httpsOnly"] is True
    assert site["properties"]["siteConfig"]["minTlsVersion"] == "1.2"


def test_flex_deploys_the_package_from_blob_storage_as_the_app_identity(deployment):
    symbol, _, site = deployment.function_app()
    storage = site["properties"]["functionAppConfig"]["deployment"]["storage"]
    assert storage["type"] == "blobContainer"
    assert storage["authentication"] == {
        "type": "UserAssignedIdentity",
        "userAssignedIdentityResourceId": "identityId",
    }
    container_url = deployment.main.module_params(symbol)["deploymentContainerUrl"]
    assert dotted(container_url) == "storage.outputs.deploymentContainerUrl"
    assert site["identity"]["type"] == "UserAssigned"


def test_app_settings_are_one_appsettings_resource_of_the_site(deployment):
    # The shape of Microsoft's Flex samples (the AVM web/site module's `configs`):
    # settings that read resource properties sit in a resource body, never in a loop.
    _, app, site = deployment.function_app()
    configs = [
        app.resource_config(symbol)
        for symbol in app.symbols_of_type("Microsoft.Web/sites/config")
    ]
    assert [(config["name"], config["parent"]) for config in configs] == [
        ("appsettings", "site")
    ]
    assert "appSettings" not in site["properties"]["siteConfig"]


def test_the_app_name_and_so_its_hostname_is_the_same_on_every_deployment(deployment):
    name = deployment.main.parameters["functionAppName"]["default"]
    assert "${uniqueString(resourceGroup().id)}" in name
    symbol, _, _ = deployment.function_app()
    assert deployment.main.module_params(symbol)["name"] == "functionAppName"
    for path in all_bicep_files():
        text = path.read_text()
        assert "utcNow(" not in text and "newGuid(" not in text, path.name


def test_outputs_give_the_base_and_heartbeat_urls_from_the_default_hostname(
    deployment,
):
    _, app, _ = deployment.function_app()
    assert app.outputs["defaultHostName"]["value"] == {
        "operator": {
            "type": "property_accessor",
            "operands": {
                "operand_1": "site",
                "operand_2": {
                    "operator": {
                        "type": "property_accessor",
                        "operands": {
                            "operand_1": "properties",
                            "operand_2": "defaultHostName",
                        },
                    }
                },
            },
        }
    }
    outputs = deployment.main.outputs
    base = "https://${functionApp.outputs.defaultHostName}"
    assert outputs["baseUrl"]["value"] == base
    assert outputs["heartbeatUrl"]["value"] == f"{base}/heartbeat"


def role_grants(deployment: Deployment) -> dict[str, tuple[str, str]]:
    """role definition GUID -> (type of the scope resource, principal expression)."""
    symbol = deployment.module_holding("Microsoft.Authorization/roleAssignments")
    roles = deployment.modules[symbol]
    grants = {}
    for assignment in roles.symbols_of_type("Microsoft.Authorization/roleAssignments"):
        config = roles.resource_config(assignment)
        function = config["properties"]["roleDefinitionId"]["function"]
        assert function["type"] == "subscription_resource_id"
        assert function["parameters"]["resource_type"] == (
            "Microsoft.Authorization/roleDefinitions"
        )
        role = function["parameters"]["resource_name_1"]
        if role in roles.variables:
            role = roles.variables[role]["value"]
        elif role in roles.parameters:
            passed = deployment.main.module_params(symbol).get(role)
            role = deployment.main.parameters[passed]["default"]
        scope = roles.resources[config["scope"]]["type"]
        assert config["properties"]["principalType"] == "ServicePrincipal"
        grants[role] = (scope, config["properties"]["principalId"])
    principal = deployment.main.module_params(symbol)["principalId"]
    assert dotted(principal) == "identity.outputs.principalId"
    return grants


def test_the_app_identity_gets_exactly_the_roles_it_needs_where_it_needs_them(
    deployment,
):
    assert role_grants(deployment) == {
        STORAGE_BLOB_DATA_OWNER: ("Microsoft.Storage/storageAccounts", "principalId"),
        STORAGE_TABLE_DATA_CONTRIBUTOR: (
            "Microsoft.Storage/storageAccounts",
            "principalId",
        ),
        MONITORING_METRICS_PUBLISHER: ("Microsoft.Insights/components", "principalId"),
        COMMUNICATION_AND_EMAIL_SERVICE_OWNER: (
            "Microsoft.Communication/communicationServices",
            "principalId",
        ),
        KEY_VAULT_SECRETS_USER: ("Microsoft.KeyVault/vaults", "principalId"),
    }


def test_roles_are_granted_before_the_app_starts(deployment):
    symbol, _, _ = deployment.function_app()
    config = deployment.main.modules[symbol]["config"]
    assert "roles" in config.get("dependsOn", [])


def test_storage_takes_no_keys_and_no_anonymous_readers(deployment):
    _, storage = deployment.modules["storage"].only("Microsoft.Storage/storageAccounts")
    assert storage["kind"] == "StorageV2"
    properties = storage["properties"]
    assert properties["minimumTlsVersion"] == "TLS1_2"
    assert properties["supportsHttpsTrafficOnly"] is True
    assert properties["allowBlobPublicAccess"] is False
    assert properties["allowSharedKeyAccess"] is False


def test_telemetry_ingestion_needs_an_entra_token(deployment):
    monitoring = deployment.modules["monitoring"]
    _, component = monitoring.only("Microsoft.Insights/components")
    assert component["properties"]["DisableLocalAuth"] is True
    assert dotted(component["properties"]["WorkspaceResourceId"]) == "workspace.id"


SECRET_PATTERNS = [
    re.compile(r"\.list[A-Za-z]*\("),  # listKeys(), listConnectionStrings(), ...
    re.compile(r"\blist[A-Za-z]*\("),
    re.compile(r"AccountKey", re.IGNORECASE),
    re.compile(r"SharedAccessSignature|primaryKey|secondaryKey", re.IGNORECASE),
    re.compile(r"@secure\(\)"),
]


def secret_findings(infra_dir: Path) -> list[str]:
    findings = []
    for path in sorted(infra_dir.rglob("*.bicep*")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("//", 1)[0]
            if any(pattern.search(code) for pattern in SECRET_PATTERNS):
                findings.append(f"{path.name}:{number}: {line.strip()}")
    return findings


def test_no_key_or_secret_is_read_passed_or_output(deployment):
    assert secret_findings(INFRA_DIR) == []
    for template in deployment.templates():
        for name, output in template.outputs.items():
            text = f"{name} {output['value']}".lower()
            assert "connectionstring" not in text and "key" not in text, name


def test_the_secret_scan_trips_on_a_storage_key(infra_copy: Path):
    edit(
        infra_copy / "modules" / "storage.bicep",
        "output name string = storage.name\n",
        "output name string = storage.name\n"
        "output key string = storage.listKeys().keys[0].value\n",
    )
    assert len(secret_findings(infra_copy)) == 1


def test_the_only_connection_string_is_the_telemetry_address(deployment):
    # An Application Insights connection string is an address, not a credential, once
    # local auth is off (see the test above); no other connection string may appear.
    settings = deployment.app_settings()
    reads_one = {
        name
        for name, value in settings.items()
        if "connectionstring" in str(value).lower()
    }
    assert reads_one == {"APPLICATIONINSIGHTS_CONNECTION_STRING"}
    assert "connectionString" not in str(deployment.main.outputs)


def test_the_parameters_file_sets_every_required_parameter_and_no_unknown_one(
    deployment,
):
    using, names = parameters_file_names(INFRA_DIR / "main.bicepparam")
    assert using == "main.bicep"
    parameters = deployment.main.parameters
    required = {name for name, spec in parameters.items() if spec["default"] is None}
    assert required == {"emailRecipients"}
    assert required <= names
    assert names <= set(parameters), sorted(names - set(parameters))


def test_the_parameters_check_trips_on_an_unset_required_parameter(infra_copy: Path):
    main_bicep = infra_copy / "main.bicep"
    edit(main_bicep, "param siteName string = 'LCO'", "param siteName string")
    edit(infra_copy / "main.bicepparam", "param siteName = 'LCO'\n", "")
    main = Template.load(infra_copy / "main.bicep")
    required = {n for n, spec in main.parameters.items() if spec["default"] is None}
    _, names = parameters_file_names(infra_copy / "main.bicepparam")
    assert required - names == {"siteName"}


def test_every_checkov_skip_says_why():
    skip = re.compile(r"checkov:skip=([A-Z0-9_]+)(?::(.*))?")
    for path in all_bicep_files():
        for line in path.read_text().splitlines():
            found = skip.search(line)
            if found:
                reason = (found.group(2) or "").strip()
                assert len(reason) > 20, f"{path.name}: {found.group(1)} has no reason"


def test_checkov_fails_a_template_that_loses_a_justified_skip(infra_copy: Path):
    storage = infra_copy / "modules" / "storage.bicep"
    lines = storage.read_text().splitlines(keepends=True)
    storage.write_text(
        "".join(line for line in lines if "checkov:skip=CKV_AZURE_35" not in line)
    )
    result = subprocess.run(
        [
            str(CHECKOV),
            "--framework",
            "bicep",
            "--file",
            str(storage),
            "--skip-download",
            "--quiet",
            "--compact",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "CKV_AZURE_35" in result.stdout
