"""The status page in a real browser, in each state a person on call may find it.

Each test brings a real monitor (Azurite, SMTP) into a state through its own use
cases, loads `/` from the local host in headless Chromium at phone width, asserts what
a person sees (words, colours, headings, no sideways scrolling) and saves a
screenshot under test-artifacts/page/.
"""

# The fixtures come from browser_support (not conftest.py, which other work edits);
# pytest finds them imported here, and their names are the tests' parameters.
# ruff: noqa: F811

from __future__ import annotations

import pytest
from browser_support import browser, page_host, screenshot  # noqa: F401 - fixtures
from selenium.webdriver.common.by import By

from lvmbeat_monitor.service import CheckFailed


GREEN, RED, GREY = (
    "rgba(26, 127, 55, 1)",
    "rgba(207, 34, 46, 1)",
    "rgba(87, 96, 106, 1)",
)
UNKNOWN = "rgba(140, 149, 159, 1)"


def look(browser, host) -> None:
    browser.get(host.url + "/")


def text(browser, css: str) -> str:
    return browser.find_element(By.CSS_SELECTOR, css).text


def banner_colour(browser) -> str:
    banner = browser.find_element(By.CSS_SELECTOR, "header.banner")
    return banner.value_of_css_property("background-color")


def assert_fits_a_phone(browser) -> None:
    """At 375 CSS px nothing makes the page scroll sideways."""
    inner = browser.execute_script("return window.innerWidth")
    wide = browser.execute_script("return document.documentElement.scrollWidth")
    assert inner == 375 and wide <= inner, f"page is {wide} px wide at {inner} px"


def assert_headings(browser) -> None:
    assert text(browser, "h1") == "LCO internet link"
    headings = [h.text for h in browser.find_elements(By.CSS_SELECTOR, "h2")]
    assert headings == [
        "Heartbeat",
        "Notifications",
        "Last 7 days",
        "Outages, last 30 days",
    ]


def segments(browser, kind: str) -> int:
    return len(browser.find_elements(By.CSS_SELECTOR, f"svg.timeline rect.seg-{kind}"))


async def beat_and_check(service) -> None:
    await service.heartbeat()
    await service.check()


async def a_week_with_an_outage_and_a_window(service, clock) -> None:
    """Four days ago LCO went silent for 80 s (alert and all-clear by email); three
    days ago an operator disabled monitoring for an hour; since then all is well."""
    await beat_and_check(service)
    for _ in range(7):
        clock.advance(seconds=10)
        await service.check()
    clock.advance(seconds=10)
    await beat_and_check(service)
    clock.advance(days=1)
    await beat_and_check(service)
    await service.disable(60)
    clock.advance(hours=2)
    await beat_and_check(service)
    clock.advance(days=3)
    await beat_and_check(service)
    clock.advance(seconds=5)


def test_up_after_a_week_with_an_outage_and_a_window(page_host, browser, screenshot):
    host = page_host
    host.run(a_week_with_an_outage_and_a_window(host.service, host.clock))
    look(browser, host)
    assert browser.title == "LCO: Up · lvmbeat"
    assert text(browser, "#state") == "Up"
    assert text(browser, "#state-detail") == (
        "Heartbeats are arriving; the last one came 5 s ago."
    )
    assert banner_colour(browser) == GREEN
    assert_headings(browser)
    facts = text(browser, "#heartbeat")
    assert "2026-03-05 14:01:20 UTC" in facts  # the last heartbeat, in UTC
    assert "2026-03-05 11:01:20 Chile (-03)" in facts  # and at LCO (summer time)
    outage = text(browser, "li.outage")
    assert "Silence started\n2026-03-01 12:00:00 UTC" in outage
    assert "Length\n1 min 20 s" in outage and "Told\nemail" in outage
    window = text(browser, "li.window")
    assert "From\n2026-03-02 12:01:20 UTC" in window
    assert "To\n2026-03-02 13:01:20 UTC" in window
    assert (segments(browser, "up"), segments(browser, "down")) == (1, 1)
    assert segments(browser, "disabled") == 1
    assert_fits_a_phone(browser)
    screenshot("up")


def test_down_with_the_alert_still_pending(page_host, browser, screenshot):
    host = page_host

    async def outage_whose_alert_fails() -> None:
        await beat_and_check(host.service)
        for _ in range(6):
            host.clock.advance(seconds=10)
            await host.service.check()
        host.clock.advance(seconds=10)
        with pytest.raises(CheckFailed):
            await host.service.check()  # the mail relay refuses: the alert waits
        host.clock.advance(seconds=50)

    failing_relay(host)
    host.run(outage_whose_alert_fails())
    look(browser, host)
    assert browser.title == "LCO: Down · lvmbeat"
    assert text(browser, "#state") == "Down"
    assert text(browser, "#state-detail") == (
        "Down since 2026-03-01 12:00:00 UTC / 2026-03-01 09:00:00 Chile (-03), "
        "for 2 min."
    )
    assert banner_colour(browser) == RED
    row = browser.find_element(By.CSS_SELECTOR, "#channels tbody tr")
    assert row.get_attribute("class") == "channel channel-error"
    assert row.text == "email down notice pending refused"
    outage = text(browser, "li.outage")
    assert outage.startswith("Outage (ongoing)")
    assert "Alert sent\nnot yet" in outage and "Told\nnobody yet" in outage
    assert segments(browser, "down") == 1
    assert_headings(browser)
    assert_fits_a_phone(browser)
    screenshot("down-pending")


def test_disabled_for_a_timed_window(page_host, browser, screenshot):
    host = page_host

    async def maintenance() -> None:
        await beat_and_check(host.service)
        await host.service.disable(90)
        host.clock.advance(minutes=15)

    host.run(maintenance())
    look(browser, host)
    assert browser.title == "LCO: Monitoring disabled · lvmbeat"
    assert text(browser, "#state") == "Monitoring disabled"
    assert text(browser, "#state-detail") == (
        "No alerts are sent until 2026-03-01 13:30:00 UTC / 2026-03-01 10:30:00 "
        "Chile (-03); then it resumes by itself."
    )
    assert banner_colour(browser) == GREY
    window = text(browser, "li.window")
    assert (
        "To\n2026-03-01 13:30:00 UTC / 2026-03-01 10:30:00 Chile (-03) (planned)"
        in (window)
    )
    assert segments(browser, "disabled") == 1
    assert_fits_a_phone(browser)
    screenshot("disabled-window")


def test_never_seen_waits_for_the_first_heartbeat(page_host, browser, screenshot):
    host = page_host
    host.run(host.service.check())
    look(browser, host)
    assert browser.title == "LCO: Waiting for the first heartbeat · lvmbeat"
    assert text(browser, "#state") == "Waiting for the first heartbeat"
    assert banner_colour(browser) == UNKNOWN
    assert "Last heartbeat (UTC)\nnever" in text(browser, "#heartbeat")
    assert text(browser, "#outages p") == (
        "No outage and no maintenance window in the last 30 days."
    )
    assert (segments(browser, "unknown"), segments(browser, "up")) == (1, 0)
    refresh = browser.find_element(By.CSS_SELECTOR, 'meta[http-equiv="refresh"]')
    assert refresh.get_attribute("content") == "30"
    assert_fits_a_phone(browser)
    screenshot("never-seen")


def failing_relay(host) -> None:
    """The SMTP server refuses every delivery from now on (451)."""
    host.smtp.sink.fail_next = 1000
