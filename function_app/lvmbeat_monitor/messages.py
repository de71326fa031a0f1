"""What a notice says, in one place, for every channel.

Email, Slack and the webhook all send the same subject and text, rendered here from
the notice's stored facts and the moment of sending: the alert states how long LCO has
actually been silent (not the threshold), the last heartbeat in UTC and in Chile's
local time (where the people who act on it are), what LCO reported at its last contact,
what to check first, how to silence
it and where the status is. The webhook also sends the facts themselves (webhook.py),
with the outage length from `outage_seconds` below, so both agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from lvmbeat_monitor.clock import human_duration
from lvmbeat_monitor.model import Notice, NoticeKind
from lvmbeat_monitor.report import describe_report


# LCO's time zone. The tzdata package (a dependency) provides it where the host has no
# zone database, so a message never fails for want of it.
SITE_TIME_ZONE = ZoneInfo("America/Santiago")
# What the silencing hint suggests: long enough for planned work on the link.
SUGGESTED_DISABLE_MINUTES = 60


@dataclass(frozen=True)
class Message:
    """A rendered notice: the subject (email subject, Slack's first line) and text."""

    subject: str
    text: str


@dataclass(frozen=True)
class Site:
    """What messages need besides the notice: the settings' part of them."""

    name: str  # LVMBEAT_SITE_NAME
    status_url: str | None = None  # https://<WEBSITE_HOSTNAME>/status, when known

    @property
    def base_url(self) -> str | None:
        return self.status_url.removesuffix("/status") if self.status_url else None


def subject_for(notice: Notice, site: str) -> str:
    if notice.kind is NoticeKind.DOWN:
        return f"{site} internet is down"
    if notice.kind is NoticeKind.REMIND:
        return f"{site} internet is still down"
    return f"RESOLVED: {site} internet is up"


def outage_seconds(notice: Notice, now: datetime) -> int | None:
    """How long the outage has lasted (DOWN, REMIND: until now) or lasted (UP: until
    the first heartbeat back the monitor saw), from the last heartbeat before it.
    None when no silence is claimed (an operator's /notify while heartbeats came)."""
    start = notice.last_seen or notice.silent_since
    if notice.silent_since is None or start is None:
        return None
    end = notice.back_at if notice.kind is NoticeKind.UP else now
    if end is None:
        return None
    return max(0, round((end - start).total_seconds()))


def when(moment: datetime) -> str:
    """`2026-03-01 12:00:00 UTC (2026-03-01 09:00:00 -03 in Chile)`."""
    utc = moment.astimezone(UTC)
    local = moment.astimezone(SITE_TIME_ZONE)
    return (
        f"{utc:%Y-%m-%d %H:%M:%S} UTC "
        f"({local:%Y-%m-%d %H:%M:%S} {local.tzname()} in Chile)"
    )


def render(notice: Notice, now: datetime, site: Site) -> Message:
    """The subject and text of a notice sent at `now`."""
    subject = subject_for(notice, site.name)
    if notice.kind is NoticeKind.UP:
        return Message(subject, _all_clear(notice, site))
    return Message(subject, _still_silent(notice, now, site))


def render_test(channel: str, route: str, now: datetime, site: Site) -> Message:
    """The message of /email-test, /slack-test, /webhook-test."""
    return Message(
        f"TEST: {site.name} internet monitor {channel}",
        f"This is a test of the lvmbeat monitor's {channel} alerts for {site.name}, "
        f"sent at {when(now)} on request ({route}).\n\n"
        "If you read this, alerts reach you here. Nothing is wrong.\n",
    )


def _still_silent(notice: Notice, now: datetime, site: Site) -> str:
    """The alert and the reminders: how long, since when, what to do."""
    lasted = outage_seconds(notice, now)
    lines: list[str] = []
    if notice.kind is NoticeKind.REMIND:
        lines.append(f"Reminder {notice.reminder}: the outage is not over.")
    if lasted is not None:
        lines.append(f"No heartbeat from {site.name} for {human_duration(lasted)}.")
    elif notice.forced:
        # /notify/down while heartbeats came: no silence is claimed.
        lines.append(f"An operator declared {site.name} down (/notify/down).")
    lines.append("")
    if notice.last_seen is not None:
        lines.append(f"Last heartbeat: {when(notice.last_seen)}")
    elif notice.silent_since is not None:
        lines.append(
            "Last heartbeat: none since the monitor started watching at "
            f"{when(notice.silent_since)}"
        )
    else:
        lines.append("Last heartbeat: none recorded yet")
    if notice.report is not None:
        # LCO's last word: what the actor knew at its last contact (its report, kept
        # with the heartbeat and attached when the notice is sent).
        lines.append(describe_report(notice.report, site.name))
    if notice.kind is NoticeKind.DOWN:
        lines.append(f"Alert decided: {when(notice.decided_at)}")
    if notice.forced and lasted is not None:
        lines.append("This alert was sent on request (/notify/down).")
    lines += [
        "",
        f"{site.name} may have lost its internet link, or the lvmbeat actor stopped "
        "reaching the monitor. Check first:",
        f"  1. {site.name}'s link: can you reach hosts on the mountain (VPN, ssh)?",
        "  2. The actor: `lvmbeat actor status` on the LVM host; its `network` "
        "keyword says whether LCO and the outside are reachable from there.",
        # No period after a URL: some clients would take it into the link.
        f"  3. The monitor's status: {site.status_url or '/status on the monitor'}",
        "",
        "Planned work? Silence alerts for a while with "
        f"{_route(site, f'/disable?minutes={SUGGESTED_DISABLE_MINUTES}')} (function "
        "key required); they resume by themselves.",
        "You will get RESOLVED when heartbeats resume.",
    ]
    return "\n".join(lines) + "\n"


def _all_clear(notice: Notice, site: Site) -> str:
    lines = [f"Heartbeats from {site.name} have resumed.", ""]
    if notice.last_seen is not None:
        lines.append(f"Last heartbeat before the outage: {when(notice.last_seen)}")
    if notice.back_at is not None:
        lines.append(f"First heartbeat back: {when(notice.back_at)}")
    lasted = outage_seconds(notice, notice.back_at or notice.decided_at)
    if lasted is not None:
        lines.append(
            f"The outage lasted about {human_duration(lasted)}, from the first "
            "silence to the first heartbeat back (as the monitor's next check saw "
            "it: up to one check period late)."
        )
    if notice.forced:
        lines.append("This all-clear was sent on request (/notify/up).")
    lines += ["", f"Status: {site.status_url or '/status on the monitor'}"]
    return "\n".join(lines) + "\n"


def _route(site: Site, path: str) -> str:
    return f"{site.base_url}{path}" if site.base_url else path
