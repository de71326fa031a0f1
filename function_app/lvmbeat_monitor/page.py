"""The status page at `/`: one server-rendered HTML document, no external assets.

It is built from what anonymous `/status` and `/history` already answer (so it can
disclose nothing they do not), with every value escaped: the site name and anything
read back from storage are text, never markup. It refreshes itself, reads well at
phone width (375 px), and shows times in UTC and in Chile's local time, because the
people who read it work in both.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from typing import Any

from lvmbeat_monitor.clock import human_duration, iso_z
from lvmbeat_monitor.history import History, OutageRecord, WindowRecord
from lvmbeat_monitor.model import NEVER


# The tz database name; the `tzdata` package provides it where the host has none.
CHILE = ZoneInfo("America/Santiago")
PAGE_DAYS = 30
TIMELINE_DAYS = 7
# Refresh with every check, but not more often than this (a page left open on a wall
# screen would otherwise cost a storage read every few seconds).
MIN_REFRESH = timedelta(seconds=30)
MAX_REFRESH = timedelta(minutes=5)

# What each condition looks like: its CSS class and headline. The words are what a
# person reads first; the colour is a second cue, never the only one.
HEADLINES = {
    "up": "Up",
    "late": "Up, heartbeat late",
    "down": "Down",
    "disabled": "Monitoring disabled",
    "waiting": "Waiting for the first heartbeat",
}


@dataclass(frozen=True)
class Segment:
    """A stretch of the timeline."""

    kind: str  # "down" or "disabled"
    start: datetime
    end: datetime


def refresh_period(check_period: timedelta) -> int:
    """Seconds between the page's own reloads."""
    return int(min(max(check_period, MIN_REFRESH), MAX_REFRESH).total_seconds())


def render_page(
    status: Mapping[str, Any], history: History, now: datetime, *, refresh: int
) -> str:
    """The whole page. `status` is what `/status` answers; `history` the last 30
    days of `/history`."""
    site = str(status.get("site_name") or "LCO")
    condition = str(status.get("state") or "waiting")
    if condition not in HEADLINES:
        condition = "waiting"
    headline = HEADLINES[condition]
    detail = _detail(condition, status, now)
    title = f"{site}: {headline} · lvmbeat"
    body = "\n".join(
        [
            f'<header class="banner state-{condition}">',
            f"<h1>{_e(site)} internet link</h1>",
            f'<p id="state" class="state">{_e(headline)}</p>',
            f'<p id="state-detail">{_e(detail)}</p>',
            "</header>",
            "<main>",
            _heartbeat_section(status, now),
            _channels_section(status),
            _timeline_section(condition, status, history, now),
            _outages_section(status, history, now),
            "</main>",
            _footer(status, now, refresh),
        ]
    )
    return TEMPLATE.format(
        refresh=refresh, title=_e(title), condition=condition, body=body, css=CSS
    )


# --- sections -----------------------------------------------------------------------


def _detail(condition: str, status: Mapping[str, Any], now: datetime) -> str:
    if condition == "down":
        since = _down_since(status)
        if since is None:
            return "An outage has been declared."
        return f"Down since {_both(since)}, for {human_duration(_secs(now - since))}."
    if condition == "disabled":
        until = _time(status.get("disabled_until"))
        if until is None or until >= NEVER:
            return "No alerts are sent until someone enables monitoring again."
        return f"No alerts are sent until {_both(until)}; then it resumes by itself."
    if condition == "waiting":
        return (
            "The monitor has not received a heartbeat yet; it alerts only after "
            "the first one."
        )
    last = _time(status.get("last_seen"))
    age = human_duration(_secs(now - last)) if last else "unknown"
    if condition == "late":
        return f"The last heartbeat came {age} ago; an alert follows if none comes."
    return f"Heartbeats are arriving; the last one came {age} ago."


def _heartbeat_section(status: Mapping[str, Any], now: datetime) -> str:
    last = _time(status.get("last_seen"))
    check = _time(status.get("last_check"))
    rows = [
        ("Last heartbeat (UTC)", _utc(last) if last else "never"),
        ("Last heartbeat (Chile)", _chile(last) if last else "never"),
        ("Age", human_duration(_secs(now - last)) if last else "no heartbeat yet"),
        (
            "Last check",
            f"{_utc(check)} ({human_duration(_secs(now - check))} ago)"
            if check
            else "no check has run yet",
        ),
    ]
    items = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in rows)
    return (
        '<section id="heartbeat"><h2>Heartbeat</h2>'
        f'<dl class="facts">{items}</dl></section>'
    )


def _channels_section(status: Mapping[str, Any]) -> str:
    channels = status.get("channels") or {}
    if not channels:
        return (
            '<section id="channels"><h2>Notifications</h2>'
            "<p>No notification channel is configured.</p></section>"
        )
    rows = []
    for name, info in sorted(channels.items()):
        pending = (info or {}).get("pending")
        error = (info or {}).get("last_error")
        css = "error" if error else "pending" if pending else "ok"
        rows.append(
            f'<tr class="channel channel-{css}"><th scope="row">{_e(name)}</th>'
            f"<td>{_e(f'{pending} notice pending' if pending else 'nothing pending')}"
            f"</td><td>{_e(error or 'none')}</td></tr>"
        )
    return (
        '<section id="channels"><h2>Notifications</h2><table>'
        '<thead><tr><th scope="col">Channel</th><th scope="col">Pending</th>'
        '<th scope="col">Last error</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></section>"
    )


def _timeline_section(
    condition: str, status: Mapping[str, Any], history: History, now: datetime
) -> str:
    start = now - timedelta(days=TIMELINE_DAYS)
    segments = timeline_segments(condition, status, history, now)
    # Phone-shaped units: at 375 px the labels are drawn near their own size.
    width, height, bar = 350, 46, 28

    def x(moment: datetime) -> float:
        share = (min(max(moment, start), now) - start) / (now - start)
        return round(share * width, 1)

    base = "unknown" if condition == "waiting" else "up"
    parts = [
        f'<rect class="seg seg-{base}" x="0" y="0" width="{width}" height="{bar}">'
        f"<title>{_e(base)}</title></rect>"
    ]
    for segment in segments:
        left, right = x(segment.start), x(segment.end)
        label = f"{segment.kind}: {_utc(segment.start)} to {_utc(segment.end)}"
        parts.append(
            f'<rect class="seg seg-{segment.kind}" x="{left}" y="0" '
            f'width="{max(right - left, 2)}" height="{bar}">'
            f"<title>{_e(label)}</title></rect>"
        )
    day = datetime(start.year, start.month, start.day, tzinfo=UTC) + timedelta(days=1)
    while day < now:
        parts.append(
            f'<line class="tick" x1="{x(day)}" x2="{x(day)}" y1="0" y2="{bar + 4}"/>'
            f'<text x="{x(day)}" y="{height - 2}" text-anchor="middle">'
            f"{day:%d %b}</text>"
        )
        day += timedelta(days=1)
    summary = (
        f"Last {TIMELINE_DAYS} days: {sum(s.kind == 'down' for s in segments)} "
        f"outage(s), {sum(s.kind == 'disabled' for s in segments)} maintenance "
        "window(s)."
    )
    return (
        f'<section id="timeline"><h2>Last {TIMELINE_DAYS} days</h2>'
        f'<svg role="img" aria-label="{_e(summary)}" viewBox="0 0 {width} {height}" '
        f'class="timeline">{"".join(parts)}</svg>'
        '<p class="legend">'
        '<span><span class="key key-up"></span>up</span> '
        '<span><span class="key key-down"></span>down</span> '
        '<span><span class="key key-disabled"></span>monitoring disabled</span> '
        '<span><span class="key key-unknown"></span>no heartbeat yet</span></p>'
        f"<p class='summary'>{_e(summary)} Dates in UTC.</p></section>"
    )


def timeline_segments(
    condition: str, status: Mapping[str, Any], history: History, now: datetime
) -> list[Segment]:
    """Down and disabled stretches of the last 7 days (windows first, so an outage
    drawn over one stays visible)."""
    start = now - timedelta(days=TIMELINE_DAYS)
    segments = [
        Segment("disabled", w.started_at, w.end(now))
        for w in history.windows
        if w.end(now) > start
    ]
    if condition == "disabled" and not any(w.ended_at is None for w in history.windows):
        # Disabled now, and its window's row is missing: draw what /status knows.
        segments.append(Segment("disabled", now - timedelta(minutes=1), now))
    outages = [o for o in history.outages if o.end(now) > start]
    segments += [Segment("down", o.started, o.end(now)) for o in outages]
    since = _down_since(status)
    if condition == "down" and since and not any(o.ended_at is None for o in outages):
        segments.append(Segment("down", since, now))
    return segments


def _outages_section(status: Mapping[str, Any], history: History, now: datetime) -> str:
    current = (status.get("outage") or {}).get("declared_at")
    items = [
        (o.started, _outage_item(o, now, current=iso_z(o.declared_at) == current))
        for o in history.outages
    ]
    items += [(w.started_at, _window_item(w, now)) for w in history.windows]
    items.sort(key=lambda pair: pair[0], reverse=True)
    if not items:
        listing = (
            f"<p>No outage and no maintenance window in the last {PAGE_DAYS} days.</p>"
        )
    else:
        listing = '<ol class="events">' + "".join(i for _, i in items) + "</ol>"
    note = (
        "<p class='note'>Only the newest entries are shown.</p>"
        if history.truncated
        else ""
    )
    return (
        f'<section id="outages"><h2>Outages, last {PAGE_DAYS} days</h2>'
        f"{listing}{note}</section>"
    )


def _outage_item(outage: OutageRecord, now: datetime, *, current: bool) -> str:
    """One outage. A row left open that is not the outage under way lost its end
    (the state was reset, or the write failed): it says so rather than guess."""
    ongoing = outage.ended_at is None and outage.back_at is None and current
    rows = [
        ("Silence started", _both(outage.started)),
        ("Alert sent", _both(outage.alerted_at) if outage.alerted_at else "not yet"),
        (
            "Back",
            _both(outage.back_at)
            if outage.back_at
            else "not yet"
            if ongoing
            else "not recorded",
        ),
        ("Length", human_duration(_secs(outage.duration(now)))),
        ("Told", ", ".join(outage.reached) or "nobody yet"),
    ]
    facts = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in rows)
    state = "ongoing" if ongoing else "over"
    heading = "Outage (ongoing)" if ongoing else "Outage"
    return (
        f'<li class="event outage outage-{state}"><h3>{_e(heading)}</h3>'
        f'<dl class="facts">{facts}</dl></li>'
    )


def _window_item(window: WindowRecord, now: datetime) -> str:
    if window.ended_at is not None:
        end = _both(window.ended_at)
    elif window.until is not None:
        end = f"{_both(window.until)} (planned)"
    else:
        end = "until enabled"
    rows = [("From", _both(window.started_at)), ("To", end)]
    facts = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in rows)
    return (
        '<li class="event window"><h3>Maintenance window (monitoring disabled)</h3>'
        f'<dl class="facts">{facts}</dl></li>'
    )


def _footer(status: Mapping[str, Any], now: datetime, refresh: int) -> str:
    version = status.get("version") or "?"
    return (
        f"<footer><p>lvmbeat {_e(version)} · page made {_e(_utc(now))} · "
        f"refreshes every {refresh} s · "
        '<a href="status">status JSON</a> · <a href="history">history JSON</a>'
        "</p></footer>"
    )


# --- helpers ------------------------------------------------------------------------


def _down_since(status: Mapping[str, Any]) -> datetime | None:
    outage = status.get("outage") or {}
    return _time(outage.get("silent_since")) or _time(outage.get("declared_at"))


def _both(moment: datetime) -> str:
    return f"{_utc(moment)} / {_chile(moment)}"


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _chile(moment: datetime) -> str:
    local = moment.astimezone(CHILE)
    return local.strftime("%Y-%m-%d %H:%M:%S ") + f"Chile ({local:%Z})"


def _secs(delta: timedelta) -> float:
    return delta.total_seconds()


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


CSS = """
:root{color-scheme:light;--up:#1a7f37;--down:#cf222e;--late:#9a6700;
--disabled:#57606a;--unknown:#8c959f;--ink:#1f2328;--muted:#57606a}
*{box-sizing:border-box}
body{margin:0;font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:var(--ink);background:#f6f8fa;overflow-wrap:anywhere}
.banner{padding:1rem 1rem 1.1rem;color:#fff}
.banner h1{margin:0;font-size:1.1rem;font-weight:600;opacity:.9}
.banner .state{margin:.2rem 0;font-size:2rem;font-weight:700}
.banner p{margin:.2rem 0}
.state-up{background:var(--up)}.state-down{background:var(--down)}
.state-late{background:var(--late)}.state-disabled{background:var(--disabled)}
.state-waiting{background:var(--unknown)}
main{max-width:46rem;margin:0 auto;padding:0 .75rem}
section{background:#fff;border:1px solid #d0d7de;border-radius:6px;
margin:.9rem 0;padding:.4rem .9rem .8rem}
h2{font-size:1.15rem;margin:.5rem 0}
h3{font-size:1rem;margin:.2rem 0}
dl.facts{display:grid;grid-template-columns:minmax(7rem,auto) 1fr;gap:.15rem .8rem;
margin:.3rem 0}
dt{color:var(--muted)}dd{margin:0}
table{width:100%;border-collapse:collapse;overflow-wrap:normal}
th,td{text-align:left;padding:.25rem .4rem;border-bottom:1px solid #eaeef2}
.channel-error td:last-child{color:var(--down);font-weight:600}
.channel-pending td:nth-child(2){color:var(--late);font-weight:600}
svg.timeline{display:block;width:100%;height:auto;max-height:7rem}
.seg-up{fill:var(--up)}.seg-down{fill:var(--down)}
.seg-disabled{fill:var(--disabled)}.seg-unknown{fill:var(--unknown)}
.tick{stroke:#fff;stroke-width:1}
svg text{font-size:11px;fill:var(--muted)}
.legend{font-size:.9rem;color:var(--muted)}
.legend>span{white-space:nowrap}
.key{display:inline-block;width:.8rem;height:.8rem;border-radius:2px;
margin:0 .25rem 0 .6rem;vertical-align:-1px}
.key-up{background:var(--up)}.key-down{background:var(--down)}
.key-disabled{background:var(--disabled)}.key-unknown{background:var(--unknown)}
ol.events{list-style:none;padding:0;margin:0}
.event{border-left:4px solid var(--down);padding:.2rem .7rem;margin:.6rem 0}
.event.window{border-left-color:var(--disabled)}
.outage-ongoing{background:#ffebe9}
footer{color:var(--muted);font-size:.85rem;text-align:center;padding:1rem}
@media (max-width:30rem){dl.facts{grid-template-columns:1fr}dd{margin-bottom:.3rem}}
"""

TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="{refresh}">
<link rel="icon" href="data:,">
<title>{title}</title>
<style>{css}</style>
</head>
<body class="page page-{condition}">
{body}
</body>
</html>
"""
