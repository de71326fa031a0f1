"""LCO's last word: the actor's report that travels in the body of `POST /heartbeat`.

When LCO goes dark, the people alerted want more than "the last heartbeat came at
04:12:08": was the dome's PLC heartbeat still being written, were the critical
components current, had LCO's own network checks already failed? The actor knows all of
that each time it calls the monitor, so it sends it along (CONTRACT.md, "The actor's
report"):

    {"version": str, "critical_current": bool, "stale": [names],
     "last_emitted_ecp": ISO or null, "network": {"lco": bool, "outside": bool}}

This module parses and validates that body (bounded in size, checked field by field:
extra keys are ignored), turns it into the JSON property stored with the heartbeat, and
renders it as the one sentence alerts quote. Every field is a bool, a time, a version
or a heartbeat name restricted to a plain word, so no host name, address or secret can
travel in it: the report is safe to show on the anonymous `/status`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from typing import Any

from lvmbeat_monitor.clock import iso_z


# The contract's bound on the body; larger bodies are refused unread.
MAX_REPORT_BYTES = 4096
MAX_STALE = 32
# A heartbeat name is a word (letters, digits, `_`, `-`): no dots, colons or slashes,
# so neither a host name nor an address fits in it.
HEARTBEAT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
# A version starts with a digit, e.g. `1.2.0`, `1.2.0rc1`, `1.2.1.dev3+g1a2b3c`.
VERSION = re.compile(r"[0-9][0-9A-Za-z.+!-]{0,39}")
ISO_Z = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
NETWORK_CHECKS = ("lco", "outside")


class ReportRefused(ValueError):
    """The report (not the heartbeat) is refused; `field` names what was wrong."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


@dataclass(frozen=True)
class Report:
    """What the actor knew when it called the monitor."""

    version: str
    critical_current: bool
    stale: tuple[str, ...]
    last_emitted_ecp: datetime | None
    network: dict[str, bool]

    def as_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "critical_current": self.critical_current,
            "stale": list(self.stale),
            "last_emitted_ecp": iso_z(self.last_emitted_ecp),
            "network": {name: self.network[name] for name in NETWORK_CHECKS},
        }


@dataclass(frozen=True)
class LastReport:
    """A report and the heartbeat it came with (they are stored in one write)."""

    received_at: datetime
    report: Report

    def as_json(self) -> dict[str, Any]:
        """What `/status` shows as `last_report`."""
        return {
            "received_at": iso_z(self.received_at),
            **self.report.as_json(),
            "summary": describe_report(self),
        }


def parse_report(body: bytes) -> Report | None:
    """The report in a `POST /heartbeat` body; None for an empty body (a plain
    heartbeat). Raises ReportRefused naming the first field that is wrong."""
    if len(body) > MAX_REPORT_BYTES:
        raise ReportRefused(
            "body", f"{len(body)} bytes, more than the {MAX_REPORT_BYTES} allowed"
        )
    if not body.strip():
        return None
    try:
        raw = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nested too deep
        raise ReportRefused("body", "not JSON") from None
    if not isinstance(raw, dict):
        raise ReportRefused("body", "not a JSON object")
    return report_from_json(raw)


def report_from_json(raw: dict[str, Any]) -> Report:
    """Validate a decoded report field by field (extra keys are ignored)."""
    version = _required(raw, "version", str)
    if not VERSION.fullmatch(version):
        raise ReportRefused("version", "not a version such as 1.2.0")
    critical_current = _required(raw, "critical_current", bool)
    stale = _required(raw, "stale", list)
    if len(stale) > MAX_STALE:
        raise ReportRefused("stale", f"more than {MAX_STALE} names")
    for name in stale:
        if not isinstance(name, str) or not HEARTBEAT_NAME.fullmatch(name):
            raise ReportRefused(
                "stale",
                "each name must be a word of letters, digits, '_' or '-' (at most 64)",
            )
    if "last_emitted_ecp" not in raw:
        raise ReportRefused("last_emitted_ecp", "missing")
    last_emitted_ecp = raw["last_emitted_ecp"]
    if last_emitted_ecp is not None and (
        not isinstance(last_emitted_ecp, str) or not ISO_Z.fullmatch(last_emitted_ecp)
    ):
        raise ReportRefused(
            "last_emitted_ecp",
            "not null or an ISO 8601 UTC time such as 2024-12-26T16:32:25Z",
        )
    network = _required(raw, "network", dict)
    checks: dict[str, bool] = {}
    for name in NETWORK_CHECKS:
        value = network.get(name)
        if not isinstance(value, bool):
            raise ReportRefused(f"network.{name}", "missing or not true/false")
        checks[name] = value
    try:
        emitted = _parse_time(last_emitted_ecp)
    except ValueError:
        raise ReportRefused("last_emitted_ecp", "not a valid time") from None
    return Report(
        version=version,
        critical_current=critical_current,
        stale=tuple(stale),
        last_emitted_ecp=emitted,
        network=checks,
    )


def _required(raw: dict[str, Any], name: str, kind: type) -> Any:
    if name not in raw:
        raise ReportRefused(name, "missing")
    value = raw[name]
    # bool is an int in Python; `kind` is never int here, so no extra care is needed.
    if not isinstance(value, kind):
        raise ReportRefused(name, f"not a {_KIND_NAMES[kind]}")
    return value


_KIND_NAMES = {str: "string", bool: "true/false", list: "list", dict: "JSON object"}


def _parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


# --- storage: one JSON property of the heartbeat entity ---------------------------


def stored_report(report: Report) -> str:
    """The report as the heartbeat entity's `report` property."""
    return json.dumps(report.as_json(), separators=(",", ":"))


def load_stored_report(
    text: str | None, received_at: datetime | None
) -> LastReport | None:
    """The stored report, or None when the last heartbeat carried none. A stored
    value that no longer validates (written by another version) is read as none."""
    if not text or received_at is None:
        return None
    try:
        raw = json.loads(text)
        report = report_from_json(raw) if isinstance(raw, dict) else None
    except (ValueError, ReportRefused):
        return None
    return LastReport(received_at, report) if report else None


# --- the sentence people read ------------------------------------------------------


def describe_report(last: LastReport, site: str = "LCO") -> str:
    """One sentence, e.g. "At its last contact, 04:12:08 UTC, LCO reported: PLC
    heartbeat written 04:12:01, critical heartbeats current, LCO network up, outside
    network up."""
    report = last.report
    received = last.received_at.astimezone(UTC)
    if report.last_emitted_ecp is None:
        plc = "PLC heartbeat not written since the actor started"
    else:
        plc = f"PLC heartbeat written {_clock_time(report.last_emitted_ecp, received)}"
    if report.critical_current:
        beats = "critical heartbeats current"
    elif report.stale:
        beats = f"{', '.join(report.stale)} not current (not writing the PLC heartbeat)"
    else:
        beats = "critical heartbeats not current"
    network = ", ".join(
        f"{'LCO' if name == 'lco' else name} network "
        f"{'up' if report.network[name] else 'down'}"
        for name in NETWORK_CHECKS
    )
    return (
        f"At its last contact, {received:%H:%M:%S} UTC, {site} reported: {plc}, "
        f"{beats}, {network} (lvmbeat {report.version})."
    )


def _clock_time(moment: datetime, day_of: datetime) -> str:
    """`04:12:01` on the day of `day_of`, else the full `2024-12-26T04:12:01Z`."""
    moment = moment.astimezone(UTC)
    if moment.date() == day_of.date():
        return f"{moment:%H:%M:%S}"
    return iso_z(moment) or ""
