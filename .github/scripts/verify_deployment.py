#!/usr/bin/env python3
"""After a deployment: the monitor answers `/version` with the release and `/status`.

    verify_deployment.py BASE_URL EXPECTED_VERSION [--attempts N] [--interval S]

Both routes are anonymous (docs/interface.md), so no key is needed. A new deployment
can take a minute before every instance serves it, so the check is retried up to
N times, S seconds apart; it stops at the first full success. Exit status 1 says what
the monitor answered last. Standard library only: it runs on a bare CI runner.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request


STATUS_KEYS = frozenset({"last_seen", "enabled", "active"})


class NotYet(Exception):
    """The monitor did not (yet) answer as the release should."""


def get_json(url: str, timeout: float) -> object:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
    except urllib.error.HTTPError as error:
        raise NotYet(f"GET {url} answered HTTP {error.code}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        reason = getattr(error, "reason", error)
        raise NotYet(f"GET {url} failed: {reason}") from None
    try:
        return json.loads(body)
    except ValueError:
        raise NotYet(f"GET {url} answered something that is not JSON") from None


def check_once(base_url: str, expected_version: str, timeout: float) -> str:
    """One look at both routes; return a summary or raise NotYet saying what is off."""
    answer = get_json(f"{base_url}/version", timeout)
    version = answer.get("version") if isinstance(answer, dict) else None
    if version != expected_version:
        raise NotYet(f"/version answers {version!r}, expected {expected_version!r}")
    status = get_json(f"{base_url}/status", timeout)
    if not isinstance(status, dict) or not STATUS_KEYS <= status.keys():
        raise NotYet(f"/status answered without {sorted(STATUS_KEYS)}: {status!r}")
    return (
        f"{base_url} runs {version}; enabled={status['enabled']} "
        f"active={status['active']} last_seen={status['last_seen']}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "base_url", help="e.g. https://func-lvmbeat-xyz.azurewebsites.net"
    )
    parser.add_argument("expected_version")
    parser.add_argument("--attempts", type=int, default=30)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--timeout", type=float, default=15.0)
    args = parser.parse_args(argv)
    base_url = args.base_url.rstrip("/")
    last = "no attempt made"
    for attempt in range(1, max(args.attempts, 1) + 1):
        try:
            print(check_once(base_url, args.expected_version, args.timeout))
            return 0
        except NotYet as problem:
            last = str(problem)
            print(f"attempt {attempt}/{args.attempts}: {last}", file=sys.stderr)
        if attempt < args.attempts:
            time.sleep(args.interval)
    print(
        f"The deployment is not serving {args.expected_version}: {last}. Look at the "
        "function app's deployment log and Application Insights.",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
