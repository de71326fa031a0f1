"""The templates compile by construction: no loop and no resource condition depends on a
value that exists only once something is deployed (Bicep errors BCP178 and BCP177).

The first lvmbeat template looped over app settings built from a storage account's
endpoints and failed to compile; these tests make that class of fault impossible to
bring back, and show on planted templates that the check trips and what it says.
"""

from __future__ import annotations

from pathlib import Path

from bicep_reader import Deployment, Template, all_bicep_files, edit
from deploy_time import deploy_time_findings, loop_count


def findings_in(infra_dir: Path) -> list[str]:
    return [
        str(finding)
        for template in Deployment.load(infra_dir).templates()
        for finding in deploy_time_findings(template)
    ]


def test_no_loop_or_condition_needs_a_value_known_only_at_run_time(deployment):
    assert findings_in(deployment.main.path.parent) == []


def test_the_check_sees_the_loops_the_templates_have():
    # The watcher's email receivers loop over the recipients parameter; a reader that
    # found no loop at all would pass every template without looking.
    loops = sum(loop_count(Template.load(path)) for path in all_bicep_files())
    assert loops >= 1


def test_it_trips_on_app_settings_looped_over_storage_endpoints(infra_copy: Path):
    # The original fault: siteConfig.appSettings as a loop over settings that read the
    # storage account's endpoints, two variables away from the loop.
    edit(
        infra_copy / "modules" / "functionapp.bicep",
        "      http20Enabled: true\n",
        "      http20Enabled: true\n"
        "      appSettings: [for setting in items(union(platformSettings, "
        "monitorSettings)): {\n"
        "        name: setting.key\n"
        "        value: setting.value\n"
        "      }]\n",
    )
    found = findings_in(infra_copy)
    assert len(found) == 2, found  # the storage endpoints and the telemetry address
    where = "functionapp.bicep: resource 'site' at properties.siteConfig.appSettings"
    assert all(message.startswith(where) for message in found)
    assert any("variable platformSettings -> resource storage" in m for m in found)
    assert any("variable platformSettings -> resource appInsights" in m for m in found)
    assert all("BCP178" in message for message in found)


def test_it_trips_on_a_loop_over_a_module_output(infra_copy: Path):
    edit(
        infra_copy / "main.bicep",
        "    recipients: emailRecipients\n",
        "    recipients: [for part in split(email.outputs.senderAddress, ','): part]\n",
    )
    found = findings_in(infra_copy)
    assert len(found) == 1, found
    assert "main.bicep: module 'watcher' at params.recipients" in found[0]
    assert "module email" in found[0]


def test_it_trips_on_a_run_time_value_inside_an_interpolated_string(infra_copy: Path):
    edit(
        infra_copy / "main.bicep",
        "var token = uniqueString(resourceGroup().id)\n",
        "var token = uniqueString(resourceGroup().id)\n"
        "var hostNames = ['${functionApp.outputs.defaultHostName}']\n"
        "output hosts array = [for host in hostNames: host]\n",
    )
    found = findings_in(infra_copy)
    assert len(found) == 1, found
    assert "variable hostNames -> module functionApp" in found[0]


def test_it_trips_on_a_module_deployed_only_if_another_module_says_so(infra_copy: Path):
    edit(
        infra_copy / "main.bicep",
        "module watcher 'modules/watcher.bicep' = {\n",
        "module watcher 'modules/watcher.bicep' = "
        "if (!empty(storage.outputs.name)) {\n",
    )
    found = findings_in(infra_copy)
    assert len(found) == 1, found
    assert "module 'watcher' is decided by" in found[0] and "BCP177" in found[0]


def test_loops_over_parameters_and_variables_built_from_them_pass(infra_copy: Path):
    edit(
        infra_copy / "main.bicep",
        "var token = uniqueString(resourceGroup().id)\n",
        "var token = uniqueString(resourceGroup().id)\n"
        "var lowered = [for address in emailRecipients: toLower(address)]\n"
        "var labelled = [for (address, index) in lowered: '${index}:${address}']\n"
        "output labels array = [for label in concat(labelled, ['${token}']): label]\n",
    )
    assert findings_in(infra_copy) == []
