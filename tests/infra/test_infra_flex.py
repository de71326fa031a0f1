"""Nothing Flex Consumption deprecates: no such app setting, no such site property.

ARM refuses a Flex Consumption site that sets some of these ("The following list of ...
site configuration properties (Site.SiteConfig.FtpsState ...) for Flex Consumption sites
is invalid"), and the rest are ignored or overwritten, so a template that sets them
either fails to deploy or claims something it does not control.
"""

from __future__ import annotations

from pathlib import Path

from typing import Any

from bicep_reader import Deployment, edit


SOURCE = (
    "https://learn.microsoft.com/azure/azure-functions/functions-app-settings"
    "#flex-consumption-plan-deprecations"
)

# The "Flex Consumption plan deprecations" table of SOURCE (page dated 2025-12-22),
# app settings half, as listed there.
FLEX_DEPRECATED_SETTINGS = frozenset(
    {
        "ENABLE_ORYX_BUILD",
        "FUNCTIONS_EXTENSION_VERSION",
        "FUNCTIONS_WORKER_RUNTIME",
        "FUNCTIONS_WORKER_RUNTIME_VERSION",
        "FUNCTIONS_MAX_HTTP_CONCURRENCY",
        "FUNCTIONS_WORKER_PROCESS_COUNT",
        "FUNCTIONS_WORKER_DYNAMIC_CONCURRENCY_ENABLED",
        "SCM_DO_BUILD_DURING_DEPLOYMENT",
        "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
        "WEBSITE_CONTENTOVERVNET",
        "WEBSITE_CONTENTSHARE",
        "WEBSITE_DNS_SERVER",
        "WEBSITE_MAX_DYNAMIC_APPLICATION_SCALE_OUT",
        "WEBSITE_NODE_DEFAULT_VERSION",
        "WEBSITE_RUN_FROM_PACKAGE",
        "WEBSITE_SKIP_CONTENTSHARE_VALIDATION",
        "WEBSITE_VNET_ROUTE_ALL",
    }
)

# Not on that table but deprecated for every app on runtime 4.x (same page,
# "AzureWebJobsDashboard": "only supported when running on version 1.x").
DEPRECATED_EVERYWHERE = frozenset({"AzureWebJobsDashboard"})

# The same table, site properties half, as written there (`properties.X` or
# `properties.siteConfig.X`): a site sets them under `properties` or `siteConfig`.
FLEX_DEPRECATED_PROPERTIES = frozenset(
    {
        "alwaysOn",
        "containerSize",
        "dnsConfiguration",
        "ftpsState",
        "isReserved",
        "IsXenon",
        "javaVersion",
        "LinuxFxVersion",
        "netFrameworkVersion",
        "powerShellVersion",
        "functionAppScaleLimit",
        "preWarmedInstanceCount",
        "use32BitWorkerProcess",
        "vnetBackupRestoreEnabled",
        "vnetContentShareEnabled",
        "vnetImagePullEnabled",
        "vnetRouteAllEnabled",
        "windowsFxVersion",
    }
)


def deprecated_settings(names: set[str]) -> set[str]:
    """App setting names are case-insensitive in App Service."""
    listed = FLEX_DEPRECATED_SETTINGS | DEPRECATED_EVERYWHERE
    deprecated = {name.upper() for name in listed}
    return {name for name in names if name.upper() in deprecated}


def deprecated_properties(deployment: Deployment) -> set[str]:
    """`properties.X` / `properties.siteConfig.X` of the site (and of any `web` config
    resource, the other place siteConfig can be set) that the table deprecates."""
    _, template, site = deployment.function_app()
    bodies: dict[str, dict[str, Any]] = {
        "properties": site.get("properties", {}),
        "properties.siteConfig": site.get("properties", {}).get("siteConfig", {}),
    }
    for symbol in template.symbols_of_type("Microsoft.Web/sites/config"):
        config = template.resource_config(symbol)
        if config.get("name") == "web":
            bodies[f"config {symbol!r} properties"] = config.get("properties", {})
    deprecated = {name.lower() for name in FLEX_DEPRECATED_PROPERTIES}
    return {
        f"{where}.{key}"
        for where, body in bodies.items()
        if isinstance(body, dict)
        for key in body
        if key.lower() in deprecated
    }


def test_no_app_setting_is_one_flex_consumption_deprecates(deployment):
    found = deprecated_settings(set(deployment.app_settings()))
    assert found == set(), f"remove {sorted(found)}: see {SOURCE}"


def test_no_site_property_is_one_flex_consumption_deprecates(deployment):
    found = deprecated_properties(deployment)
    assert found == set(), f"remove {sorted(found)}: see {SOURCE}"


def test_the_runtime_is_declared_where_flex_reads_it(deployment):
    # The table's replacement for FUNCTIONS_WORKER_RUNTIME and LinuxFxVersion.
    _, _, site = deployment.function_app()
    runtime = site["properties"]["functionAppConfig"]["runtime"]
    assert runtime == {"name": "python", "version": "3.12"}


def test_the_settings_check_trips_on_a_legacy_runtime_setting(infra_copy: Path):
    edit(
        infra_copy / "modules" / "functionapp.bicep",
        "  AZURE_CLIENT_ID: identityClientId\n",
        "  AZURE_CLIENT_ID: identityClientId\n  FUNCTIONS_WORKER_RUNTIME: 'python'\n",
    )
    names = set(Deployment.load(infra_copy).app_settings())
    assert deprecated_settings(names) == {"FUNCTIONS_WORKER_RUNTIME"}


def test_the_settings_check_ignores_letter_case(infra_copy: Path):
    edit(
        infra_copy / "main.bicep",
        "  LVMBEAT_SITE_NAME: siteName\n",
        "  LVMBEAT_SITE_NAME: siteName\n  website_run_from_package: '1'\n",
    )
    names = set(Deployment.load(infra_copy).app_settings())
    assert deprecated_settings(names) == {"website_run_from_package"}


def test_the_property_check_trips_on_ftps_state(infra_copy: Path):
    # The property ARM names when it refuses the site.
    edit(
        infra_copy / "modules" / "functionapp.bicep",
        "      minTlsVersion: '1.2'\n",
        "      minTlsVersion: '1.2'\n      ftpsState: 'Disabled'\n",
    )
    found = deprecated_properties(Deployment.load(infra_copy))
    assert found == {"properties.siteConfig.ftpsState"}


def test_the_property_check_trips_on_always_on_in_either_place(infra_copy: Path):
    edit(
        infra_copy / "modules" / "functionapp.bicep",
        "    httpsOnly: true\n",
        "    httpsOnly: true\n    vnetRouteAllEnabled: false\n",
    )
    edit(
        infra_copy / "modules" / "functionapp.bicep",
        "      http20Enabled: true\n",
        "      http20Enabled: true\n      alwaysOn: false\n",
    )
    found = deprecated_properties(Deployment.load(infra_copy))
    assert found == {
        "properties.vnetRouteAllEnabled",
        "properties.siteConfig.alwaysOn",
    }
