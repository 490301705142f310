"""Slack webhook end to end: events signed with slack_sdk's own SignatureVerifier, sent over HTTP to
the real app on real Redis; replies and file downloads go to a local fake Slack API."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from bot.config import Settings
from tests.fakes.platform_servers import FakeSlack, html_login_page, json_answer, rate_limited
from tests.support.engine import photo
from tests.support.live import Live, live_app, order_id_in
from tests.support.slack import BOT_TOKEN, BOT_USER, CHANNEL, SECRET, TEAM, USER, SlackClient

pytestmark = pytest.mark.integration

UNSUPPORTED = 'I understand text, photos and locations. Send a photo to report a problem, or "help".'


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(bot_token=BOT_TOKEN) as server:
        yield server


@pytest.fixture
def app_settings(settings: Settings, slack: FakeSlack, fake_openai: Any) -> Settings:
    return settings.with_(
        language="en",
        slack_signing_secret=SECRET,
        slack_bot_token=BOT_TOKEN,
        slack_api_base=slack.base_url,
        vlm_base_url=fake_openai.base_url,
        nlu_base_url="off",
        vlm_api_key="sk-test",
        max_image_bytes=200_000,
        max_body_bytes=64_000,
    )


@pytest.fixture
def live(app_settings: Settings, real_store: Any, orders: Any, storage: Any) -> Iterator[Live]:
    with live_app(app_settings, store=real_store, orders=orders, storage=storage) as app:
        yield app


@pytest.fixture
def client(live: Live) -> SlackClient:
    return SlackClient(live)


def test_url_verification(client: SlackClient):
    challenge = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    answer = client.post({"token": "Jhj5dZrVaK7ZwHHjRyZWjbDl", "challenge": challenge, "type": "url_verification"})
    assert answer.status == 200
    assert answer.body.decode() == challenge


def test_report_confirm_and_close(client: SlackClient, slack: FakeSlack, orders: Any):
    answer = client.image(slack, photo(1))
    assert answer.status == 200
    assert slack.calls("download")[0].headers["authorization"] == f"Bearer {BOT_TOKEN}"
    client.text("Building 3, basement, next to the pump")
    client.text("confirm")
    order_id = order_id_in(slack.texts(CHANNEL))
    order = orders.get(order_id)
    assert (order.reporter.platform, order.reporter.tenant, order.reporter.user) == ("slack", TEAM, USER)
    assert order.location_text.startswith("Building 3")

    client.text(f"close {order_id}")
    client.image(slack, photo(2))
    assert orders.get(order_id).status == "closed"
    assert f"Order {order_id} is closed" in slack.texts(CHANNEL)[-1]
    assert all(p["thread_ts"] is None for p in slack.posted)


def test_replies_stay_in_the_thread(client: SlackClient, slack: FakeSlack):
    client.text(f"<@{BOT_USER}> help", thread_ts="1652220000.000100", channel="C999", channel_type="channel")
    assert slack.posted[0]["channel"] == "C999"
    assert slack.posted[0]["thread_ts"] == "1652220000.000100"


def test_mention_of_the_bot_is_stripped(client: SlackClient, slack: FakeSlack, live: Live):
    client.text(f"<@{BOT_USER}> status")
    assert slack.texts()[0].startswith("Nothing in progress")


def test_wrong_signature_is_refused(client: SlackClient, slack: FakeSlack, live: Live):
    answer = SlackClient(live, secret="not-the-secret").text("help")
    assert answer.status == 401
    body, headers = client.signed(client.event({"text": "help"}))
    assert live.call("POST", "/webhook/slack", body=body.replace(b"help", b"hack"), headers=headers).status == 401
    assert slack.requests == []
    assert live.runtime.store.load(f"slack:{TEAM}:{USER}") is None


def test_stale_timestamp_is_refused(client: SlackClient, slack: FakeSlack):
    answer = client.post(client.event({"text": "help"}), timestamp=int(time.time()) - 301)
    assert answer.status == 401
    assert slack.requests == []


def test_malformed_json_is_400(client: SlackClient, live: Live):
    body = b"{this is not json"
    ts = str(int(time.time()))
    headers = {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": client.verifier.generate_signature(timestamp=ts, body=body),
    }
    assert live.call("POST", "/webhook/slack", body=body, headers=headers).status == 400


def test_redelivered_confirm_creates_one_order(client: SlackClient, slack: FakeSlack, orders: Any):
    client.image(slack, photo(3))
    client.text("Gate 4")
    confirm = client.event({"text": "confirm", "client_msg_id": "c-confirm"})
    client.post(confirm)
    for retry in (1, 2):
        assert (
            client.post(
                confirm, headers={"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
            ).status
            == 200
        )
    assert len([t for t in slack.texts() if t.startswith("Work order created")]) == 1
    page, _ = orders.list()
    assert len(page) == 1


def test_image_over_the_cap_is_refused_without_downloading(client: SlackClient, slack: FakeSlack):
    client.image(slack, photo(4) + os.urandom(250_000))
    assert "too large" in slack.texts()[-1]
    assert slack.calls("download") == []  # the event's file size was enough


def test_html_login_page_instead_of_the_file(client: SlackClient, slack: FakeSlack):
    slack.script("download", html_login_page())
    client.image(slack, photo(5))
    assert "did not come through" in slack.texts()[-1]


def test_file_url_only_via_files_info(client: SlackClient, slack: FakeSlack):
    f = slack.add_file("FCONNECT1", photo(6))
    shared = {k: v for k, v in f.items() if not k.startswith("url_")}
    client.post(
        client.event({"subtype": "file_share", "text": "", "files": [{**shared, "file_access": "check_file_info"}]})
    )
    assert len(slack.calls("files_info")) == 1
    assert slack.texts()[0].startswith("I see:")


def test_bot_and_own_messages_never_get_a_reply(client: SlackClient, slack: FakeSlack):
    client.post(client.event({"text": "Work order created", "bot_id": "B999", "user": "U999"}))
    client.post(client.event({"text": "echo of my own reply", "user": BOT_USER}))
    client.post(client.event({"subtype": "bot_message", "text": "hi", "username": "other bot"}))
    assert slack.requests == []


@pytest.mark.parametrize(
    "event",
    [
        {"subtype": "message_changed", "hidden": True, "message": {"text": "edited"}},
        {"subtype": "message_deleted", "hidden": True},
        {"subtype": "channel_join", "text": "<@U111> has joined the channel"},
        {"type": "reaction_added", "reaction": "thumbsup"},
    ],
)
def test_edits_joins_and_other_events_are_ignored(client: SlackClient, slack: FakeSlack, event: dict):
    assert client.post(client.event(event)).status == 200
    assert slack.requests == []


def test_a_non_image_file_gets_a_polite_answer(client: SlackClient, slack: FakeSlack):
    f = slack.add_file("FPDF", b"%PDF-1.4 ...", "application/pdf", "report.pdf")
    client.post(client.event({"subtype": "file_share", "text": "", "files": [f]}))
    assert slack.texts() == [UNSUPPORTED]
    assert slack.calls("download") == []


def test_rate_limited_send_waits_and_retries(client: SlackClient, slack: FakeSlack):
    slack.script("post", rate_limited(retry_after=1))
    started = time.perf_counter()
    client.text("help")
    assert time.perf_counter() - started >= 1.0
    assert len(slack.calls("post")) == 2
    assert len(slack.texts()) == 1


def test_permanent_send_error_is_not_retried_and_the_turn_stands(client: SlackClient, slack: FakeSlack, live: Live):
    slack.script("post", json_answer({"ok": False, "error": "not_in_channel"}), times=5)
    client.image(slack, photo(7))
    assert len(slack.calls("post")) == 1  # the turn's one message, tried once
    assert live.runtime.store.load(f"slack:{TEAM}:{USER}").state == "waiting_location"


def test_the_ack_is_fast_while_the_vlm_is_slow(client: SlackClient, slack: FakeSlack, fake_openai: Any, live: Live):
    fake_openai.delay(3.0, times=1)
    f = slack.add_file("FSLOW", photo(8))
    answer = client.post(client.event({"subtype": "file_share", "text": "", "files": [f]}), settle=False)
    assert answer.status == 200
    assert answer.seconds < 1.0
    live.settle()
    assert slack.texts()[0].startswith("I see:")
