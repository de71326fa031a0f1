"""Slack and the webhook beside email: the real slack_sdk client against a local server
that speaks chat.postMessage, the webhook against a receiver that checks signatures,
email on a real SMTP server, the state on Azurite; an injected clock drives the checks
(one every 10 s, alert after 60 s of silence)."""

from __future__ import annotations

import asyncio
import logging
import random
from collections import defaultdict

import pytest
from monitor_support import smtp_env
from slack_server import RETRY_AFTER_SECONDS, Refusal, SlackApi
from test_monitor_routes import call
from test_monitor_scenarios import DOWN, UP, check, started, subjects
from webhook_server import WebhookReceiver

from lvmbeat_monitor import runtime
from lvmbeat_monitor.decide import CheckOutcome
from lvmbeat_monitor.service import CheckFailed


STILL = "LCO internet is still down"
TOKEN = "xoxb-test-0000-secret"
SECRET = "webhook-signing-secret"


@pytest.fixture
async def slack():
    api = await SlackApi(TOKEN).start()
    yield api
    await api.stop()


@pytest.fixture
async def webhook():
    receiver = await WebhookReceiver(SECRET.encode()).start()
    yield receiver
    await receiver.stop()


@pytest.fixture
def env(monitor_env, smtp_server, slack, webhook):
    """Every channel on, reminders every 30 s."""
    return {
        **monitor_env,
        **smtp_env(smtp_server),
        "LVMBEAT_SLACK_TOKEN": TOKEN,
        "LVMBEAT_SLACK_API_URL": slack.base_url,
        "LVMBEAT_SLACK_CHANNEL": "#lvm-alerts",
        "LVMBEAT_WEBHOOK_URL": webhook.url,
        "LVMBEAT_WEBHOOK_SECRET": SECRET,
        "LVMBEAT_REMIND_EVERY": "30",
        "WEBSITE_HOSTNAME": "lvmbeat-test.azurewebsites.net",
    }


async def tick(service, clock, seconds=10, *, beat=False):
    clock.advance(seconds=seconds)
    if beat:
        await service.heartbeat()
    return await check(service)


async def test_an_outage_reads_as_one_story_on_every_channel(
    env, make_monitor, clock, smtp_server, slack, webhook
):
    service = make_monitor(env).service
    await started(service)
    outcomes = [(await tick(service, clock)).outcome for _ in range(13)]  # 130 s
    # Alert at 70 s of silence, reminders 30 s and 60 s after it.
    assert outcomes.count(CheckOutcome.ALERT) == 1
    assert outcomes.count(CheckOutcome.REMINDER) == 2
    await tick(service, clock, beat=True)

    # Slack: the alert pages the channel; the rest replies in its thread, shown in
    # the channel too; the all-clear pages nobody.
    alert, *replies = slack.posts
    assert [p["channel"] for p in slack.posts] == ["lvm-alerts"] * 4
    assert alert["text"].startswith("<!here> *LCO internet is down*")
    assert "thread_ts" not in alert
    assert [p["thread_ts"] for p in replies] == [alert["ts"]] * 3
    assert all(p["reply_broadcast"] is True for p in replies)
    assert [p["text"].splitlines()[0] for p in replies] == [
        f"<!here> *{STILL}*",
        f"<!here> *{STILL}*",
        f"*{UP}*",
    ]
    assert "No heartbeat from LCO for 1 min 10 s." in alert["text"]
    assert "Reminder 2: the outage is not over." in replies[1]["text"]
    assert "No heartbeat from LCO for 2 min 10 s." in replies[1]["text"]
    assert "https://lvmbeat-test.azurewebsites.net/disable?minutes=60" in alert["text"]

    # Email: the same story, threaded to the alert's Message-ID.
    assert subjects(smtp_server) == [DOWN, STILL, STILL, UP]
    first, *later = (mail.message for mail in smtp_server.sink.messages)
    assert [m["In-Reply-To"] for m in later] == [first["Message-ID"]] * 3

    # Webhook: one signed POST per notice, keyed by the notice id.
    calls = webhook.calls
    assert all(c.signature_ok for c in calls)
    assert [c.body["kind"] for c in calls] == ["down", "remind", "remind", "up"]
    assert [c.idempotency_key for c in calls] == [c.body["notice_id"] for c in calls]
    assert {c.body["outage_id"] for c in calls} == {calls[0].body["notice_id"]}
    assert [c.body["reminder"] for c in calls] == [0, 1, 2, 0]
    down, up = calls[0].body, calls[-1].body
    assert (down["last_seen"], down["outage_seconds"]) == ("2026-03-01T12:00:00Z", 70)
    assert (up["back_at"], up["outage_seconds"]) == ("2026-03-01T12:02:20Z", 140)
    assert down["status_url"] == "https://lvmbeat-test.azurewebsites.net/status"
    assert down["text"] == alert["text"].split("\n", 1)[1]  # one renderer for all
    # Every channel delivered: nothing pending, the thread roots forgotten.
    status = await service.status()
    assert status["channels"] == {
        name: {"pending": None, "last_error": None}
        for name in ("email", "slack", "webhook")
    }


@pytest.mark.parametrize(
    ("refusal", "kind", "reason"),
    [
        (Refusal.CHANNEL_NOT_FOUND, "refused", "check LVMBEAT_SLACK_CHANNEL"),
        (Refusal.RATE_LIMITED, "rate_limited", f"Retry-After {RETRY_AFTER_SECONDS} s"),
        (Refusal.SERVER_ERROR, "refused", "HTTP 500"),
    ],
)
async def test_a_slack_refusal_is_retried_alone_by_later_checks(
    env, make_monitor, clock, smtp_server, slack, webhook, refusal, kind, reason
):
    service = make_monitor(env).service
    await started(service)
    slack.refuse = lambda post: refusal
    results = [await tick(service, clock) for _ in range(7)]
    failed = results[-1]
    assert isinstance(failed, CheckFailed)
    assert "the down notification on slack failed" in str(failed)
    assert reason in str(failed)
    assert TOKEN not in str(failed)
    status = await service.status()
    assert status["channels"]["slack"] == {"pending": "down", "last_error": kind}
    assert status["channels"]["email"] == {"pending": None, "last_error": None}
    failing = await tick(service, clock)  # still refused: retried, still pending
    assert isinstance(failing, CheckFailed) and len(slack.refused) == 2

    slack.refuse = lambda post: None
    await tick(service, clock)
    assert [p["text"].split("\n")[0] for p in slack.posts] == [f"<!here> *{DOWN}*"]
    # The channels that had it were not sent it again.
    assert subjects(smtp_server) == [DOWN] and len(webhook.calls) == 1
    assert (await service.status())["channels"]["slack"]["last_error"] is None


UNRESOLVED = "@Microsoft.KeyVault(VaultName=kv-lvmbeat;SecretName=slack-token)"


async def test_a_secret_still_a_key_vault_reference_holds_only_its_channel(
    env, make_monitor, clock, smtp_server, slack, webhook
):
    # Azure passes the reference's own text when it cannot read the secret: Slack must
    # not get it as a token, and email and the webhook must not wait for Slack.
    service = make_monitor({**env, "LVMBEAT_SLACK_TOKEN": UNRESOLVED}).service
    await started(service)
    results = [await tick(service, clock) for _ in range(7)]
    failed = results[-1]
    assert isinstance(failed, CheckFailed)
    assert "LVMBEAT_SLACK_TOKEN is an unresolved Key Vault reference" in str(failed)
    assert UNRESOLVED not in str(failed)
    assert not slack.posts and not slack.refused  # Slack never saw the reference
    assert subjects(smtp_server) == [DOWN] and len(webhook.calls) == 1
    status = await service.status()
    assert status["channels"]["slack"] == {
        "pending": "down",
        "last_error": "misconfigured",
    }


async def test_a_webhook_that_fails_gets_the_same_idempotency_key_on_retry(
    env, make_monitor, clock, webhook
):
    service = make_monitor(env).service
    await started(service)
    webhook.status = 503
    for _ in range(7):
        result = await tick(service, clock)
    assert isinstance(result, CheckFailed) and "HTTP 503" in str(result)
    assert (await service.status())["channels"]["webhook"]["last_error"] == "refused"
    webhook.status = 200
    await tick(service, clock)
    (call_,) = webhook.calls
    assert call_.body["kind"] == "down" and call_.signature_ok


async def test_a_receiver_with_another_secret_refuses_and_status_says_auth(
    env, make_monitor, clock, webhook
):
    service = make_monitor({**env, "LVMBEAT_WEBHOOK_SECRET": "not-the-one"}).service
    await started(service)
    for _ in range(7):
        result = await tick(service, clock)
    assert isinstance(result, CheckFailed) and "HTTP 401" in str(result)
    assert webhook.calls and not any(c.signature_ok for c in webhook.calls)
    assert (await service.status())["channels"]["webhook"]["last_error"] == "auth"
    assert "not-the-one" not in str(result)


async def test_no_secret_reaches_the_logs_even_at_debug(
    env, make_monitor, clock, slack, caplog
):
    caplog.set_level(logging.DEBUG)
    service = make_monitor(env).service
    await started(service)
    slack.refuse = lambda post: Refusal.CHANNEL_NOT_FOUND
    for _ in range(8):
        await tick(service, clock)
    assert slack.refused  # Slack was called, and refused: errors were logged
    # The monitor's records (and the SDKs'), not the test receivers' access logs.
    ours = "\n".join(
        record.getMessage()
        for record in caplog.records
        if not record.name.startswith("aiohttp.access")
    )
    assert "Slack cannot post" in ours
    for secret in (TOKEN, SECRET, "lvmbeat-token-in-path"):
        assert secret not in ours


async def test_reminders_stop_while_disabled_and_after_the_all_clear(
    env, make_monitor, clock, webhook
):
    service = make_monitor(env).service
    await started(service)
    for _ in range(7):  # the alert
        await tick(service, clock)
    await service.disable(None)
    for _ in range(12):  # two minutes disabled: no reminder
        await tick(service, clock)
    assert [c.body["kind"] for c in webhook.calls] == ["down"]
    await service.enable()
    await tick(service, clock)  # still down: the reminder that is due now, once
    await tick(service, clock)
    await tick(service, clock, beat=True)
    for _ in range(6):
        await tick(service, clock, beat=True)
    assert [c.body["kind"] for c in webhook.calls] == ["down", "remind", "up"]
    assert webhook.calls[1].body["reminder"] == 4  # 120+ s after the alert


# --- test routes -------------------------------------------------------------------


@pytest.fixture
def route_env(env, monkeypatch):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    runtime.use(None)
    yield env
    runtime.use(None)


async def test_slack_test_posts_a_test_message_that_pages_nobody(route_env, slack):
    assert await call("slack-test", "POST") == (200, {"message": "Slack message sent."})
    (post,) = slack.posts
    assert post["text"].startswith("*TEST: LCO internet monitor Slack*")


async def test_slack_test_reports_slacks_refusal_as_502(route_env, slack):
    slack.refuse = lambda post: Refusal.RATE_LIMITED
    status, body = await call("slack-test")
    assert status == 502 and "rate-limited" in body["error"]
    assert TOKEN not in body["error"]


async def test_webhook_test_posts_a_signed_test(route_env, webhook):
    assert await call("webhook-test") == (200, {"message": "Webhook called."})
    (call_,) = webhook.calls
    assert call_.signature_ok and call_.body["kind"] == "test"
    assert call_.body["subject"].startswith("TEST:")


async def test_slack_test_names_an_unresolved_reference_as_503(
    route_env, monkeypatch, slack
):
    monkeypatch.setenv("LVMBEAT_SLACK_TOKEN", UNRESOLVED)
    runtime.use(None)
    status, body = await call("slack-test")
    assert status == 503 and "LVMBEAT_SLACK_TOKEN" in body["error"]
    assert not slack.posts


@pytest.mark.parametrize(
    ("route", "setting"),
    [("slack-test", "LVMBEAT_SLACK_TOKEN"), ("webhook-test", "LVMBEAT_WEBHOOK_URL")],
)
async def test_a_channel_test_names_the_setting_that_turns_it_on(
    route_env, monkeypatch, route, setting
):
    monkeypatch.delenv(setting)
    runtime.use(None)
    status, body = await call(route)
    assert status == 503 and setting in body["error"]


# --- racing checkers ---------------------------------------------------------------


async def test_racing_checkers_deliver_each_notice_once_per_channel_while_slack_flaps(
    env, make_monitor, clock, smtp_server, slack, webhook
):
    """Four checkers through 20 outages, Slack refusing a third of posts at random
    (seeded): per outage and channel exactly one alert, the two reminders due, one
    all-clear, in that order, and on Slack all in the alert's thread."""
    env = {**env, "LVMBEAT_REMIND_EVERY": "20"}
    monitors = [make_monitor(env) for _ in range(4)]
    checkers = [monitor.service for monitor in monitors]
    lco = checkers[0]
    dice = random.Random(13)
    slack.refuse = lambda post: (
        dice.choice(list(Refusal)) if dice.random() < 1 / 3 else None
    )
    await started(lco)

    async def check_together(*, beat=False):
        clock.advance(seconds=10)
        if beat:
            await lco.heartbeat()
        await asyncio.gather(*(check(service) for service in checkers))

    outages = 20
    for _ in range(outages):
        for _ in range(11):  # alert at 70 s of silence, reminders at 90 s and 110 s
            await check_together()
        for _ in range(2):
            await check_together(beat=True)
    slack.refuse = lambda post: None
    for _ in range(3):  # Slack's last retries
        await check_together(beat=True)
    assert slack.refused, "Slack never refused: the test did not test retries"
    lost_races = sum(m.transport.statuses.count(412) for m in monitors)
    assert lost_races > 0  # the checkers really did race for the same notices

    story = ["down", "remind", "remind", "up"]
    by_outage = defaultdict(list)
    for body in webhook.accepted:
        by_outage[body["outage_id"]].append(body["kind"])
    assert list(by_outage.values()) == [story] * outages
    assert len(webhook.calls) == len(webhook.accepted)  # no repeat even to drop

    assert subjects(smtp_server) == [DOWN, STILL, STILL, UP] * outages

    threads = defaultdict(list)
    roots = [post["ts"] for post in slack.posts if "thread_ts" not in post]
    for post in slack.posts:
        threads[post.get("thread_ts", post["ts"])].append(post["text"].split("\n")[0])
    assert len(roots) == outages
    assert [threads[root] for root in roots] == [
        [f"<!here> *{DOWN}*", f"<!here> *{STILL}*", f"<!here> *{STILL}*", f"*{UP}*"]
    ] * outages
