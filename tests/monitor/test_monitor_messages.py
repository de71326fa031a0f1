"""What people read at 3 a.m.: the texts every channel sends (messages.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lvmbeat_monitor.messages import Site, outage_seconds, render, when
from lvmbeat_monitor.model import Notice, NoticeKind


LAST = datetime(2026, 7, 1, 6, 30, 0, tzinfo=UTC)  # Chilean winter: UTC-4
SITE = Site("LCO", "https://lvmbeat.example.net/status")


def alert(**changes) -> Notice:
    facts = dict(
        id="n1",
        kind=NoticeKind.DOWN,
        decided_at=LAST + timedelta(seconds=330),
        last_seen=LAST,
        silent_since=LAST,
        outage_id="n1",
    )
    return Notice(**{**facts, **changes})


def test_the_alert_states_the_real_silence_not_the_threshold():
    text = render(alert(), LAST + timedelta(seconds=335), SITE).text
    assert "No heartbeat from LCO for 5 min 35 s." in text
    assert "more than" not in text


def test_times_are_given_in_utc_and_in_chile_whatever_the_season():
    assert when(LAST) == "2026-07-01 06:30:00 UTC (2026-07-01 02:30:00 -04 in Chile)"
    summer = datetime(2026, 1, 15, 2, 0, tzinfo=UTC)
    assert when(summer) == "2026-01-15 02:00:00 UTC (2026-01-14 23:00:00 -03 in Chile)"


def test_the_alert_says_what_to_check_how_to_silence_and_where_the_status_is():
    text = render(alert(), LAST + timedelta(seconds=335), SITE).text
    assert "lvmbeat actor status" in text
    assert "https://lvmbeat.example.net/disable?minutes=60" in text
    assert "https://lvmbeat.example.net/status" in text
    # Without a known host name, the routes alone.
    bare = render(alert(), LAST + timedelta(seconds=335), Site("LCO")).text
    assert "/disable?minutes=60" in bare and "https://" not in bare


def test_a_manual_notify_down_claims_no_silence_that_did_not_happen():
    forced = alert(silent_since=None, forced=True)
    text = render(forced, LAST + timedelta(seconds=5), SITE).text
    assert "An operator declared LCO down (/notify/down)." in text
    assert "No heartbeat from" not in text
    assert outage_seconds(forced, LAST + timedelta(seconds=5)) is None


def test_the_all_clear_spans_the_first_silence_to_the_first_heartbeat_back():
    up = alert(
        id="n9", kind=NoticeKind.UP, back_at=LAST + timedelta(minutes=47, seconds=5)
    )
    message = render(up, LAST + timedelta(hours=2), SITE)
    assert message.subject == "RESOLVED: LCO internet is up"
    assert "The outage lasted about 47 min 5 s" in message.text
    assert "First heartbeat back: 2026-07-01 07:17:05 UTC" in message.text


def test_a_reminder_says_which_and_how_long_so_far():
    remind = alert(id="n5", kind=NoticeKind.REMIND, reminder=3)
    message = render(remind, LAST + timedelta(hours=1, minutes=1), SITE)
    assert message.subject == "LCO internet is still down"
    assert message.text.startswith("Reminder 3: the outage is not over.")
    assert "No heartbeat from LCO for 1 h 1 min." in message.text
