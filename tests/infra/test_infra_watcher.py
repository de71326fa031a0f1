"""Who watches the watcher: the Azure Monitor rules that tell people when the monitor
itself cannot do its job, read from infra/modules/watcher.bicep.

- timer-silent: no successful check for a while (the app stopped, lost a role, ...);
- timer-failing: checks fail, which they now do by raising, so each is a failed
  invocation (`success == false` in the `requests` table);
- notice-undelivered: the monitor decided to send an alert or an all-clear and it has
  not gone out ("alerts are not getting out"), seen from the marker line the check logs.

All of them mail through an action group whose email receivers are served by Azure
Monitor itself, so they arrive even when the monitor's own mail path is what broke.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from typing import Any

from bicep_reader import REPO_ROOT, Deployment, Template, dotted, edit


try:
    from lvmbeat_monitor.service import UNDELIVERED_MARKER
except ImportError:
    # Until service.py defines the constant (issue 10), the value the lead announced.
    # Remove this fallback once the import works.
    UNDELIVERED_MARKER = "NOTICE UNDELIVERED"


HOST_JSON = REPO_ROOT / "function_app" / "host.json"

# Receivers an action group may use that Azure Monitor serves itself; anything else
# (webhook, Logic App, Azure Function, runbook, ...) could lead back into the app.
INDEPENDENT_RECEIVERS = frozenset({"emailReceivers", "smsReceivers", "voiceReceivers"})


@dataclass(frozen=True)
class LogRule:
    """One scheduled query rule: its body, its KQL template and the format arguments."""

    symbol: str
    properties: dict[str, Any]
    query: str
    arguments: list[Any]


def log_rules(watcher: Template) -> dict[str, LogRule]:
    rules = {}
    for symbol in watcher.symbols_of_type("Microsoft.Insights/scheduledQueryRules"):
        properties = watcher.resource_config(symbol)["properties"]
        function = properties["criteria"]["allOf"][0]["query"]["function"]
        assert function["type"] == "format", f"{symbol}: query is not format(...)"
        parameters = dict(function["parameters"])
        query = watcher.variables[parameters.pop("format_string")]["value"]
        rules[symbol] = LogRule(symbol, properties, query, list(parameters.values()))
    return rules


def variable_value(template: Template, name: Any) -> Any:
    return template.variables[name]["value"] if name in template.variables else name


def undelivered_rule_problems(deployment: Deployment, marker: str) -> list[str]:
    """What keeps the notice-undelivered rule from seeing the monitor's marker line."""
    watcher = deployment.modules["watcher"]
    reading_traces = [
        rule for rule in log_rules(watcher).values() if "traces" in rule.query
    ]
    if len(reading_traces) != 1:
        return [f"expected one rule over `traces`, found {len(reading_traces)}"]
    rule = reading_traces[0]
    problems = []
    if "message startswith_cs '{0}'" not in rule.query:
        problems.append(f"the query does not match the line's start: {rule.query!r}")
    used = variable_value(watcher, rule.arguments[0])
    if used != marker:
        problems.append(
            f"the rule looks for {used!r} but the monitor logs {marker!r} "
            "(UNDELIVERED_MARKER in function_app/lvmbeat_monitor/service.py)"
        )
    return problems


def foreign_receivers(group: dict[str, Any]) -> set[str]:
    """Receiver kinds of an action group that Azure Monitor does not serve itself."""
    kinds = {key for key in group["properties"] if key.endswith("Receivers")}
    return kinds - INDEPENDENT_RECEIVERS


def effective_log_level(host: dict[str, Any], category: str) -> int:
    """The level host.json lets through for a log category: the longest matching
    prefix in logging.logLevel wins, then "default" (host.json reference, "logging")."""
    levels = host.get("logging", {}).get("logLevel", {})
    parts = category.split(".")
    for length in range(len(parts), 0, -1):
        name = ".".join(parts[:length])
        if name in levels:
            return _level(levels[name])
    return _level(levels.get("default", "Information"))


def _level(name: str) -> int:
    return {
        "trace": 5,
        "debug": logging.DEBUG,
        "information": logging.INFO,
        "warning": logging.WARNING,
        "error": logging.ERROR,
        "critical": logging.CRITICAL,
        "none": logging.CRITICAL + 10,
    }[name.lower()]


def test_the_timer_rules_count_successful_and_failed_checks(deployment):
    watcher = deployment.modules["watcher"]
    params = deployment.main.module_params("watcher")
    assert params["timerFunctionName"] == "timerFunctionName"
    assert deployment.main.parameters["timerFunctionName"]["default"] == "check"
    assert params["silenceMinutes"] == "watcherWindowMinutes"
    timer_rules = {
        rule.symbol: rule
        for rule in log_rules(watcher).values()
        if rule.arguments[:1] == ["timerFunctionName"]
    }
    assert set(timer_rules) == {"timerSilent", "timerFailing"}
    for rule in timer_rules.values():
        assert rule.properties["windowSize"] == "PT${silenceMinutes}M"
        assert rule.query.lstrip().startswith("requests\n")
        assert "operation_Name =~ '{0}'" in rule.query
    # A raised check is a row with success == false: never a success for timer-silent,
    # always a failure for timer-failing.
    silent = timer_rules["timerSilent"].query
    assert "countif(success == true)" in silent and "succeeded == 0" in silent
    failing = timer_rules["timerFailing"].query
    assert "success == false" in failing and "failed >= {1}" in failing
    assert timer_rules["timerFailing"].arguments[1] == "failureThreshold"


def test_every_rule_reads_the_monitors_telemetry_and_mails_the_action_group(deployment):
    watcher = deployment.modules["watcher"]
    params = deployment.main.module_params("watcher")
    assert dotted(params["applicationInsightsId"]) == (
        "monitoring.outputs.applicationInsightsId"
    )
    rules = log_rules(watcher)
    assert len(rules) == 3
    for rule in rules.values():
        properties = rule.properties
        assert properties["scopes"] == ["applicationInsightsId"]
        assert [dotted(group) for group in properties["actions"]["actionGroups"]] == [
            "alertEmail.id"
        ]
        assert properties["enabled"] == "enabled"
        assert properties["autoMitigate"] is True


def test_alerts_not_getting_out_fire_from_the_monitors_marker_line(deployment):
    assert undelivered_rule_problems(deployment, UNDELIVERED_MARKER) == []
    watcher = deployment.modules["watcher"]
    rule = next(rule for rule in log_rules(watcher).values() if "traces" in rule.query)
    # As urgent as the timer going silent; seen within one evaluation of the lines.
    assert rule.properties["severity"] == 1
    assert rule.properties["evaluationFrequency"] == "PT5M"
    assert rule.properties["windowSize"] == "PT10M"
    # Quoted in KQL between single quotes.
    assert "'" not in UNDELIVERED_MARKER and UNDELIVERED_MARKER.strip()


def test_the_marker_check_trips_when_the_rule_looks_for_another_line(infra_copy: Path):
    edit(
        infra_copy / "modules" / "watcher.bicep",
        f"var undeliveredMarker = '{UNDELIVERED_MARKER}'",
        "var undeliveredMarker = 'NOTICE NOT DELIVERED'",
    )
    copy = Deployment.load(infra_copy)
    problems = undelivered_rule_problems(copy, UNDELIVERED_MARKER)
    assert len(problems) == 1 and "'NOTICE NOT DELIVERED'" in problems[0]


def test_the_marker_lines_reach_application_insights():
    # Python logs of the `check` function arrive as category Function.check.User; if
    # host.json filtered out ERROR there, the rule would never see a line.
    host = json.loads(HOST_JSON.read_text())
    assert effective_log_level(host, "Function.check.User") <= logging.ERROR


def test_the_log_level_check_trips_when_host_json_silences_function_logs():
    host = json.loads(HOST_JSON.read_text())
    host["logging"]["logLevel"]["Function.check"] = "None"
    assert effective_log_level(host, "Function.check.User") > logging.ERROR


def test_the_action_group_mails_through_azure_monitor_only(deployment):
    watcher = deployment.modules["watcher"]
    _, group = watcher.only("Microsoft.Insights/actionGroups")
    assert foreign_receivers(group) == set()
    receivers = group["properties"]["emailReceivers"]
    assert receivers["loop_type"]["detail"]["array_name"] == "recipients"
    assert deployment.main.module_params("watcher")["recipients"] == "emailRecipients"


def test_the_receiver_check_trips_on_a_webhook_into_the_app(infra_copy: Path):
    edit(
        infra_copy / "modules" / "watcher.bicep",
        "    enabled: true\n    emailReceivers:",
        "    enabled: true\n"
        "    webhookReceivers: [\n"
        "      {\n"
        "        name: 'monitor'\n"
        "        serviceUri: '${baseUrl}/notify/down'\n"
        "      }\n"
        "    ]\n"
        "    emailReceivers:",
    )
    watcher = Deployment.load(infra_copy).modules["watcher"]
    _, group = watcher.only("Microsoft.Insights/actionGroups")
    assert foreign_receivers(group) == {"webhookReceivers"}


def test_the_availability_test_probes_status_on_the_app_hostname(deployment):
    watcher = deployment.modules["watcher"]
    _, probe = watcher.only("Microsoft.Insights/webtests")
    assert probe["properties"]["Request"]["RequestUrl"] == "${baseUrl}/status"
    assert len(probe["properties"]["Locations"]) >= 2
    params = deployment.main.module_params("watcher")
    assert params["baseUrl"] == "https://${functionApp.outputs.defaultHostName}"
