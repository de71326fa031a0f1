"""Notices on Slack, through the Web API's `chat.postMessage` with a bot token.

The alert is posted to the channel with the configured mentions (default @here, so
people on call are paged); the reminders and the all-clear are replies in the alert's
thread, broadcast to the channel too (`reply_broadcast`), so the channel reads as one
story per outage and nobody misses the end of it. The receipt of a post is its `ts`,
the id Slack threads replies under.

Slack's refusals are failures of this channel, retried by later checks: `ok: false`
(bad token, unknown channel, ...), HTTP 429 (with the Retry-After it asked for) and
5xx. The client retries nothing itself: the next check is the retry.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from lvmbeat_monitor.errors import DeliveryError, ErrorKind
from lvmbeat_monitor.messages import Message, Site, render, render_test
from lvmbeat_monitor.model import Notice, NoticeKind
from lvmbeat_monitor.settings import Settings


# Whole request, connect to answer; well inside decide.SEND_DEADLINE.
SLACK_TIMEOUT_SECONDS = 20
# The SDK logs request headers (the bot token among them) at DEBUG; its logger for
# us stays at INFO whatever the root level is.
_sdk_log = logging.getLogger("lvmbeat_monitor.slack.sdk")
_sdk_log.setLevel(logging.INFO)

# Slack's `ok: false` errors that mean our settings are wrong, and which to fix.
_AUTH_ERRORS = {"invalid_auth", "not_authed", "token_revoked", "account_inactive"}
_CHANNEL_ERRORS = {"channel_not_found", "not_in_channel", "is_archived"}
# Broadcast words Slack writes as <!here>; user and group ids (<@U…>) pass as given.
_SPECIAL_MENTIONS = {"@here": "<!here>", "@channel": "<!channel>"}


def slack_mentions(setting: str) -> str:
    """LVMBEAT_SLACK_MENTIONS as Slack's markup: `@here` -> `<!here>`."""
    words = [word for word in re.split(r"[\s,]+", setting) if word]
    return " ".join(_SPECIAL_MENTIONS.get(word.lower(), word) for word in words)


class SlackChannel:
    """Posts notices to one Slack channel."""

    name = "slack"

    def __init__(
        self, client: AsyncWebClient, *, channel: str, mentions: str, site: Site
    ) -> None:
        self._client = client
        self._channel = channel
        self._mentions = slack_mentions(mentions)
        self._site = site

    @classmethod
    def from_settings(cls, settings: Settings) -> SlackChannel:
        if settings.slack_token is None:
            raise ValueError("the Slack channel needs LVMBEAT_SLACK_TOKEN")
        client = AsyncWebClient(
            token=settings.slack_token.get_secret_value(),
            base_url=settings.slack_api_url,
            timeout=SLACK_TIMEOUT_SECONDS,
            retry_handlers=[],
            logger=_sdk_log,
        )
        return cls(
            client,
            channel=settings.slack_channel,
            mentions=settings.slack_mentions,
            site=Site(settings.site_name, settings.status_url),
        )

    async def deliver(
        self, notice: Notice, now: datetime, *, thread: str | None = None
    ) -> str | None:
        message = render(notice, now, self._site)
        paging = notice.kind in (NoticeKind.DOWN, NoticeKind.REMIND)
        return await self._post(message, mention=paging, thread=thread)

    async def send_test(self, now: datetime) -> None:
        # A test pages nobody: it proves the token and channel, not the mentions.
        await self._post(
            render_test("Slack", "/slack-test", now, self._site), mention=False
        )

    async def close(self) -> None:
        return None  # the SDK opens and closes a session per request

    async def _post(
        self, message: Message, *, mention: bool, thread: str | None = None
    ) -> str:
        heading = f"*{message.subject}*"
        if mention and self._mentions:
            heading = f"{self._mentions} {heading}"
        where = f"Slack channel {self._channel!r}"
        try:
            response = await self._client.chat_postMessage(
                channel=self._channel,
                text=f"{heading}\n{message.text}",
                thread_ts=thread,
                # Replies are shown in the channel too, not only inside the thread.
                reply_broadcast=True if thread else None,
                unfurl_links=False,
                unfurl_media=False,
            )
        except SlackApiError as error:
            raise _refusal(error, where) from error
        except aiohttp.ClientConnectorCertificateError as error:
            raise DeliveryError(
                f"TLS with the Slack API failed ({error.certificate_error}) posting "
                f"to {where}.",
                ErrorKind.TLS,
            ) from error
        except (TimeoutError, aiohttp.ServerTimeoutError) as error:
            raise DeliveryError(
                f"The Slack API did not answer within {SLACK_TIMEOUT_SECONDS} s "
                f"(posting to {where}).",
                ErrorKind.TIMEOUT,
            ) from error
        except aiohttp.ClientError as error:
            raise DeliveryError(
                f"Could not reach the Slack API (LVMBEAT_SLACK_API_URL) to post to "
                f"{where}: {type(error).__name__}: {error}.",
                ErrorKind.UNREACHABLE,
            ) from error
        return str(response.get("ts") or "") or None


def _refusal(error: SlackApiError, where: str) -> DeliveryError:
    """Slack's answer as a DeliveryError whose kind an outsider may read."""
    response = error.response
    status = response.status_code
    data = response.data if isinstance(response.data, dict) else {}
    code = data.get("error")
    if status == 429:
        wait = response.headers.get("Retry-After", "?")
        return DeliveryError(
            f"Slack rate-limited the post to {where} (HTTP 429, Retry-After {wait} s); "
            "the next check retries it.",
            ErrorKind.RATE_LIMITED,
        )
    if code in _AUTH_ERRORS:
        return DeliveryError(
            f"Slack refused the bot token ({code}); check LVMBEAT_SLACK_TOKEN.",
            ErrorKind.AUTH,
        )
    if code in _CHANNEL_ERRORS:
        return DeliveryError(
            f"Slack cannot post to {where} ({code}); check LVMBEAT_SLACK_CHANNEL and "
            "invite the bot to the channel.",
            ErrorKind.REFUSED,
        )
    if code:
        return DeliveryError(
            f"Slack refused the post to {where}: {code}.", ErrorKind.REFUSED
        )
    return DeliveryError(
        f"The Slack API answered HTTP {status} to the post to {where}.",
        ErrorKind.REFUSED,
    )
