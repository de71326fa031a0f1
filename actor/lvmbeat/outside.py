"""Calls the external monitor's `/heartbeat` each interval, so it sees LCO go quiet.

Each call is a POST whose JSON body is the actor's report (LCO's last word: critical
heartbeats, the last PLC heartbeat, network checks, the version), so the monitor can
tell the people it alerts what LCO knew at its last contact.

One `httpx.AsyncClient` for the actor's lifetime (connection reuse), a timeout shorter
than the interval (a hung call never overlaps the next), the function key as the
`x-functions-key` header (never in a log line), and a log line only when the monitor
becomes unreachable and when it answers again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from typing import Any

import httpx

from lvmbeat import __version__
from lvmbeat.clock import Clock, iso_z, utc_now
from lvmbeat.config import OutsideMonitorSection
from lvmbeat.tally import Tally


def heartbeat_url(url: str) -> str:
    """The monitor's heartbeat route: `/heartbeat` appended unless already there."""
    parsed = httpx.URL(url)
    path = parsed.path.rstrip("/")
    if not path.endswith("/heartbeat"):
        path = f"{path}/heartbeat"
    return str(parsed.copy_with(path=path))


def redacted(url: str) -> str:
    """The URL without its query (where a `code=` key could hide), for logs."""
    return str(httpx.URL(url).copy_with(query=None, fragment=None))


class OutsidePinger:
    """The outside-monitor loop and what it last saw."""

    def __init__(
        self,
        config: OutsideMonitorSection,
        *,
        log: logging.Logger,
        clock: Clock = utc_now,
        report: Callable[[], dict[str, Any]] | None = None,
    ):
        self.config = config
        self.log = log
        self.clock = clock
        self.report = report
        # What the monitor said about the last report (None: accepted), logged once
        # per change: a refused report costs LCO's last word, not the heartbeat.
        self.report_error: str | None = None
        self.url = heartbeat_url(config.url) if config.url else None
        self.display_url = redacted(self.url) if self.url else None
        self.last_emitted: datetime | None = None
        self.last_error: str | None = None
        self.reachable: bool | None = None  # None until the first call
        #: Finished calls, awaitable (`await pinger.calls.reach(n)`).
        self.calls = Tally()
        self._client: httpx.AsyncClient | None = None

    @property
    def enabled(self) -> bool:
        return self.url is not None

    def _headers(self) -> dict[str, str]:
        headers = {"User-Agent": f"lvmbeat/{__version__}"}
        if self.config.key is not None:
            headers["x-functions-key"] = self.config.key.get_secret_value()
        return headers

    async def call_once(self) -> None:
        """One POST of the heartbeat route, the report as its body; the outcome is
        recorded, never raised."""
        assert self.url is not None and self._client is not None
        body = self.report() if self.report is not None else None
        try:
            response = await self._client.post(self.url, json=body)
            response.raise_for_status()
        except httpx.HTTPStatusError as error:
            self._record(f"the monitor answered HTTP {error.response.status_code}")
        except httpx.TimeoutException:
            self._record(f"no answer within {self.config.request_timeout} s")
        except httpx.HTTPError as error:
            self._record(f"{type(error).__name__}: {error}")
        else:
            self.last_emitted = self.clock()
            self._record(None)
            self._record_report_answer(response)
        self.calls.add()

    def _record_report_answer(self, response: httpx.Response) -> None:
        try:
            refused = response.json().get("report_error")
        except (ValueError, AttributeError):
            refused = None  # not the monitor's JSON: nothing said about the report
        if refused == self.report_error:
            return
        if refused:
            self.log.warning(
                f"The outside monitor recorded the heartbeat but refused its report: "
                f"{refused} Alerts will lack LCO's last word until this is fixed."
            )
        else:
            self.log.info("The outside monitor accepts the report again.")
        self.report_error = refused

    def _record(self, error: str | None) -> None:
        self.last_error = error
        reachable = error is None
        if reachable == self.reachable:
            return
        if reachable:
            if self.reachable is False:
                self.log.warning(f"Outside monitor {self.display_url} answers again.")
        else:
            self.log.error(
                f"Outside monitor {self.display_url} unreachable: {error}. "
                f"Last success: {iso_z(self.last_emitted)}; the loop goes on every "
                f"{self.config.interval} s."
            )
        self.reachable = reachable

    async def run(self) -> None:
        """Call the monitor forever; never dies, closes its client when cancelled."""
        if self.url is None:
            self.log.warning(
                "No outside monitor URL configured (outside_monitor.url or "
                "LVMBEAT_OUTSIDE_MONITOR_URL); the external monitor is not called."
            )
            return
        timeout = self.config.request_timeout
        async with httpx.AsyncClient(
            timeout=timeout, headers=self._headers()
        ) as client:
            self._client = client
            self.log.info(
                f"Calling the outside monitor at {self.display_url} every "
                f"{self.config.interval} s (timeout {timeout} s)."
            )
            try:
                while True:
                    try:
                        await self.call_once()
                    except Exception:  # noqa: BLE001 - the loop must never die
                        self.log.exception("Outside monitor call failed unexpectedly.")
                    await asyncio.sleep(self.config.interval)
            finally:
                self._client = None
