#!/usr/bin/env bash
# Make sure Debian's Chromium and its WebDriver are installed, for the status page's
# browser tests (tests/monitor/test_monitor_page_browser.py). Used by `make test` (and
# so .ci/run). Idempotent: does nothing when both are there. Selenium then drives the
# driver directly, so no browser or driver is ever downloaded at test time (this
# project's machines reach package registries only). LVMBEAT_TEST_BROWSER and
# LVMBEAT_TEST_CHROMEDRIVER name another pair (a GitHub runner's Google Chrome and its
# ChromeDriver); then nothing is installed.
set -euo pipefail

browser=${LVMBEAT_TEST_BROWSER:-/usr/bin/chromium}
driver=${LVMBEAT_TEST_CHROMEDRIVER:-/usr/bin/chromedriver}

if [ -n "${LVMBEAT_TEST_BROWSER:-}${LVMBEAT_TEST_CHROMEDRIVER:-}" ]; then
  if [ -x "$browser" ] && [ -x "$driver" ]; then
    echo "Browser tests use $browser and $driver."
    exit 0
  fi
  echo "LVMBEAT_TEST_BROWSER ($browser) or LVMBEAT_TEST_CHROMEDRIVER ($driver) is not" >&2
  echo "an executable; name both, or unset both to use Debian's chromium." >&2
  exit 1
fi

if [ -x "$browser" ] && [ -x "$driver" ]; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "Chromium ($browser) and chromedriver ($driver) are missing, and apt-get is not" >&2
  echo "available to install them. Install Debian's 'chromium' and 'chromium-driver'" >&2
  echo "packages (or your system's equivalents at those paths), then run this again." >&2
  exit 1
fi

if [ "$(id -u)" -ne 0 ]; then
  as_root=(sudo)
else
  as_root=()
fi

echo "Installing Debian's chromium and chromium-driver for the browser tests."
export DEBIAN_FRONTEND=noninteractive
if ! "${as_root[@]}" apt-get install -y --no-install-recommends chromium chromium-driver \
    >/dev/null 2>&1; then
  # A fresh machine has no package lists yet: fetch them once, then retry.
  "${as_root[@]}" apt-get update -qq
  "${as_root[@]}" apt-get install -y -qq --no-install-recommends chromium chromium-driver
fi

if [ ! -x "$browser" ] || [ ! -x "$driver" ]; then
  echo "apt-get installed chromium and chromium-driver, but $browser or $driver is" >&2
  echo "still missing; check 'dpkg -L chromium chromium-driver'." >&2
  exit 1
fi
echo "Chromium: $("$browser" --version 2>/dev/null || echo unknown)"
