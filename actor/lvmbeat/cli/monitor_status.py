"""`lvmbeat monitor status`: the status page's content in a terminal.

It reads the monitor's anonymous `/status` and `/history` (no key needed) and prints
them for a person at a glance. The exit status is for scripts: 0 while LCO is not
down, 1 while an outage is declared, 3 when the monitor could not be asked.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from typing import Any

import httpx


DEFAULT_URL = "http://127.0.0.1:7071"  # where `make run` and `monitor serve` listen
EXIT_DOWN = 1
EXIT_UNREACHABLE = 3
CHILE = ZoneInfo("America/Santiago")
TIMEOUT_SECONDS = 10.0


class MonitorUnreachable(RuntimeError):
    """The monitor did not answer, or not as a monitor; the message says how."""


def default_url(environ: Mapping[str, str] | None = None) -> str:
    """The actor's own monitor URL when set (it may end in /heartbeat), else the
    local host's."""
    environ = os.environ if environ is None else environ
    configured = (environ.get("LVMBEAT_OUTSIDE_MONITOR_URL") or "").strip()
    if not configured:
        return DEFAULT_URL
    return configured.rstrip("/").removesuffix("/heartbeat")


def fetch(base_url: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """`/status` and `/history` (30 days) from the monitor at `base_url`."""
    base = base_url.rstrip("/")
    answers = []
    with httpx.Client(timeout=TIMEOUT_SECONDS) as client:
        for path in ("/status", "/history"):
            url = base + path
            try:
                response = client.get(url)
            except httpx.HTTPError as error:
                raise MonitorUnreachable(
                    f"Could not reach the monitor at {url} ({type(error).__name__}: "
                    f"{error}). Is it running? Give its address with --url."
                ) from error
            if response.status_code != 200:
                raise MonitorUnreachable(
                    f"The monitor at {url} answered HTTP {response.status_code}: "
                    f"{_error_text(response)}"
                )
            try:
                answers.append(response.json())
            except ValueError:
                raise MonitorUnreachable(
                    f"{url} did not answer JSON; is --url the monitor's base URL?"
                ) from None
    return answers[0], answers[1]


def render(status: Mapping[str, Any], history: Mapping[str, Any], url: str) -> str:
    """The page's facts as lines of text."""
    now = _time(status.get("now")) or datetime.now(UTC)
    site = status.get("site_name") or "LCO"
    condition = status.get("state") or "waiting"
    lines = [f"{site} internet link: {_headline(condition, status, now)}"]
    last = _time(status.get("last_seen"))
    lines.append(
        "Last heartbeat:  "
        + (f"{_both(last)} ({_ago(now, last)} ago)" if last else "never")
    )
    check = _time(status.get("last_check"))
    lines.append(
        "Last check:      "
        + (f"{_utc(check)} ({_ago(now, check)} ago)" if check else "none yet")
    )
    for name, info in sorted((status.get("channels") or {}).items()):
        pending = (info or {}).get("pending")
        error = (info or {}).get("last_error")
        said = f"{pending} notice pending" if pending else "nothing pending"
        if error:
            said += f", last error: {error}"
        lines.append(f"Channel {name + ':':<9} {said}")
    outages = history.get("outages") or []
    windows = history.get("windows") or []
    lines.append(
        f"Last {history.get('days', 30)} days: {len(outages)} outage(s), "
        f"{len(windows)} maintenance window(s)"
    )
    for outage in outages:
        lines.append("  " + _outage_line(outage))
    for window in windows:
        lines.append("  " + _window_line(window))
    lines.append(f"Page: {url.rstrip('/')}/")
    return "\n".join(lines)


def exit_code(status: Mapping[str, Any]) -> int:
    return EXIT_DOWN if status.get("state") == "down" else 0


def _headline(condition: str, status: Mapping[str, Any], now: datetime) -> str:
    if condition == "down":
        outage = status.get("outage") or {}
        since = _time(outage.get("silent_since")) or _time(outage.get("declared_at"))
        if since is None:
            return "DOWN"
        return f"DOWN since {_both(since)}, for {_ago(now, since)}"
    if condition == "disabled":
        until = _time(status.get("disabled_until"))
        if until is None or until.year >= 9999:
            return "monitoring DISABLED until someone enables it"
        return f"monitoring DISABLED until {_both(until)}"
    if condition == "waiting":
        return "waiting for the first heartbeat"
    if condition == "late":
        return "up, heartbeat late"
    return "up"


def _outage_line(outage: Mapping[str, Any]) -> str:
    start = _time(outage.get("silent_since"))
    back = _time(outage.get("back_at"))
    alerted = _time(outage.get("alerted_at"))
    told = ", ".join(outage.get("channels") or []) or "nobody yet"
    parts = [
        f"outage from {_utc(start) if start else 'an operator’s notice'}",
        f"lasted {_duration(outage.get('duration_s') or 0)}",
        f"alert {_utc(alerted) if alerted else 'not sent yet'}",
        f"back {_utc(back) if back else 'not yet'}",
        f"told {told}",
    ]
    if outage.get("ended_at") is None and back is None:
        parts[1] = f"ongoing, {_duration(outage.get('duration_s') or 0)} so far"
    return "; ".join(parts)


def _window_line(window: Mapping[str, Any]) -> str:
    start = _time(window.get("started_at"))
    ended = _time(window.get("ended_at"))
    until = _time(window.get("until"))
    end = (
        _utc(ended)
        if ended
        else f"{_utc(until)} (planned)"
        if until
        else "until enabled"
    )
    return f"maintenance window {_utc(start) if start else '?'} to {end}"


def _both(moment: datetime) -> str:
    local = moment.astimezone(CHILE)
    return f"{_utc(moment)} ({local:%H:%M:%S} Chile)"


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _ago(now: datetime, then: datetime) -> str:
    return _duration(max(0.0, (now - then).total_seconds()))


def _duration(seconds: float) -> str:
    total = round(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days} d"] if days else []
    parts += [f"{hours} h"] if hours else []
    parts += [f"{minutes} min"] if minutes else []
    if secs or not parts:
        parts.append(f"{secs} s")
    return " ".join(parts)


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def _error_text(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error") or response.text[:200])
    except ValueError:
        return response.text[:200] or "(empty answer)"
