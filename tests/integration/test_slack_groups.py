"""Slack channels and phone photos end to end, through the real app on real Redis and a local fake Slack.

Payloads as Slack sends them (api.slack.com/events/app_mention and /events/message): a mention in a
channel arrives twice, as ``app_mention`` and as ``message`` with ``channel_type: "channel"``, with
different ``event_id``s and the same ``ts``; a thread reply carries ``thread_ts``; files arrive in
``files[]`` (an iPhone photo as ``image/heic``, a video as ``video/mp4``). Taps as in tests/support/slack.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bot.config import Settings
from bot.images import sniff_image_type
from bot.replies import say
from tests.fakes.platform_servers import FakeSlack
from tests.support.engine import heic, photo
from tests.support.live import live_app
from tests.support.slack import BOT_TOKEN, BOT_USER, SECRET, SlackClient, buttons

pytestmark = pytest.mark.integration

CHANNEL, GUARD, OTHER = "C0SHIFT1", "U111", "U333"
KEY = f"slack:T111:{GUARD}@{CHANNEL}"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(bot_token=BOT_TOKEN) as server:
        yield server


@pytest.fixture
def client(settings: Settings, slack: FakeSlack, real_store: Any, orders: Any, storage: Any) -> Iterator[SlackClient]:
    configured = settings.with_(
        language="en", slack_signing_secret=SECRET, slack_bot_token=BOT_TOKEN, slack_api_base=slack.base_url
    )
    with live_app(configured, store=real_store, orders=orders, storage=storage) as live:
        yield SlackClient(live)


def in_channel(client: SlackClient, event: dict, event_type: str = "message", user: str = GUARD) -> dict:
    """A channel message event (``channel_type`` is only on ``message``; ``app_mention`` has none)."""
    payload = client.event({"channel": CHANNEL, "user": user, **event})
    payload["event"]["type"] = event_type
    if event_type == "app_mention":
        payload["event"].pop("channel_type")
    else:
        payload["event"]["channel_type"] = "channel"
    return payload


def test_a_mention_delivered_twice_is_one_turn_answered_in_its_thread(
    client: SlackClient, slack: FakeSlack, real_store: Any
) -> None:
    f = slack.add_file("F0PHOTO1", photo(1))
    mention = in_channel(client, {"text": f"<@{BOT_USER}> leak by the pump", "files": [f]}, "app_mention")
    message = in_channel(client, {"text": mention["event"]["text"], "files": [f], "subtype": "file_share"})
    message["event"]["ts"] = message["event"]["event_ts"] = mention["event"]["ts"]  # the same message
    assert client.post(mention).status == 200 and client.post(message).status == 200
    assert len(slack.posted) == 1  # one turn, one answer
    answer = slack.posted[0]
    assert answer["channel"] == CHANNEL and answer["thread_ts"] == mention["event"]["ts"]
    assert answer["text"].startswith(f"<@{GUARD}> ") and answer["blocks"][0]["text"]["text"] == f"<@{GUARD}>"
    session = real_store.load(KEY)
    assert session is not None and session.chat == CHANNEL and session.state == "waiting_location"
    assert real_store.load(f"slack:T111:{GUARD}") is None  # the direct-chat session is another one


def test_chatter_is_ignored_and_a_flow_continues_without_a_mention(
    client: SlackClient, slack: FakeSlack, real_store: Any
) -> None:
    client.post(in_channel(client, {"text": "morning all, coffee is in the kitchen"}))
    client.post(in_channel(client, {"text": "the pump is leaking again", "user": OTHER}))
    assert slack.posted == [] and real_store.load(KEY) is None

    f = slack.add_file("F0PHOTO2", photo(2))
    start = in_channel(client, {"text": f"<@{BOT_USER}>", "files": [f], "subtype": "file_share"})
    client.post(start)
    thread = start["event"]["ts"]
    client.tap(slack, "water leak")
    client.post(in_channel(client, {"text": "B2 pump room", "thread_ts": thread}))  # no mention, in the thread
    summary = slack.posted[-1]
    assert summary["thread_ts"] == thread and "B2 pump room" in summary["text"]
    assert buttons(summary) == [say("en", "choice_confirm"), say("en", "choice_cancel")]
    client.post(in_channel(client, {"text": "nice work team"}))  # chatter from the same user: the place? asked
    assert real_store.load(KEY).pending["location"]["label"] == "B2 pump room"  # type: ignore[union-attr]
    asked = say("en", "place_check_change", place="nice work team", current="B2 pump room")
    assert slack.posted[-1]["text"].endswith(asked)


def test_a_tap_on_someone_elses_card_is_told_to_the_tapper_only(
    client: SlackClient, slack: FakeSlack, real_store: Any
) -> None:
    f = slack.add_file("F0PHOTO3", photo(3))
    client.post(in_channel(client, {"text": f"<@{BOT_USER}>", "files": [f], "subtype": "file_share"}))
    card = slack.posted[-1]
    before = real_store.load(KEY)
    client.tap(slack, "water leak", message=card, user=OTHER)
    assert len(slack.ephemeral) == 1 and slack.ephemeral[0]["user"] == OTHER
    assert slack.ephemeral[0]["text"] == say("en", "not_your_card")
    assert len(slack.posted) == 1 and buttons(slack.message(card["ts"]))  # no answer in the channel, card open
    after = real_store.load(KEY)
    assert after.pending == before.pending and after.offer == before.offer  # type: ignore[union-attr]
    client.tap(slack, "water leak", message=card)  # its owner's tap works
    assert real_store.load(KEY).pending["alarm_type"] == "water leak"  # type: ignore[union-attr]


def test_a_message_with_two_photos_one_of_them_heic_makes_one_report(
    client: SlackClient, slack: FakeSlack, real_store: Any, storage: Any
) -> None:
    jpeg = slack.add_file("F0PAIR01", photo(4))
    iphone = slack.add_file("F0PAIR02", heic(photo(5)), "image/heic", "IMG_0001.HEIC")
    client.post(client.event({"subtype": "file_share", "text": "", "files": [jpeg, iphone]}))
    assert len(slack.posted) == 1
    pending = real_store.load("slack:T111:U111").pending
    assert len(pending["more_photos"]) == 1 and pending["more_photos"][0][1] == "image/jpeg"
    stored = storage.get(pending["more_photos"][0][0])
    assert sniff_image_type(stored) == "image/jpeg"  # the HEIC was kept as JPEG


def test_a_photo_shared_as_a_document_is_a_photo_and_a_video_is_politely_refused(
    client: SlackClient, slack: FakeSlack, real_store: Any
) -> None:
    video = slack.add_file("F0VIDEO1", b"\x00\x00\x00\x18ftypmp42 not a photo", "video/mp4", "clip.mp4")
    client.post(client.event({"subtype": "file_share", "text": "", "files": [video]}))
    assert slack.posted[-1]["text"] == say("en", "video_not_photo")
    doc = slack.add_file("F0DOC001", photo(6), "application/octet-stream", "site.jpg")
    client.post(client.event({"subtype": "file_share", "text": "", "files": [doc]}))
    assert real_store.load("slack:T111:U111").pending.get("image_key")
