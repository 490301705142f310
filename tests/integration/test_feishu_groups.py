"""Feishu group chats and phone photos end to end, through the real app on real Redis and a local fake Feishu.

Payloads follow lark-oapi's ``P2ImMessageReceiveV1`` (``message.chat_type`` "group", ``mentions`` with
``key`` "@_user_1" and ``id.open_id``, ``root_id`` of a thread reply; a ``post`` whose lines hold ``at``
and ``img`` tags; a ``file`` with ``file_key``; a ``media`` video) and ``P2CardActionTrigger`` for taps,
encrypted and signed like every event (tests/integration/test_feishu.FeishuClient).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.images import sniff_image_type
from bot.replies import say
from tests.fakes.platform_servers import FakeFeishu, feishu_buttons
from tests.integration import test_feishu_buttons as buttons
from tests.integration.test_feishu import CHAT, OPEN_ID, TENANT, FeishuClient
from tests.integration.test_feishu_buttons import last_card, tap
from tests.support.engine import heic, photo

pytestmark = pytest.mark.integration
feishu, live, client = buttons.feishu, buttons.live, buttons.client  # the same app on the same fake Feishu

GROUP_KEY = f"feishu:{TENANT}:{OPEN_ID}@{CHAT}"
OTHER = "ou_other_guard"


def in_group(event: dict, *, mention: str | None = None, root: str = "") -> dict:
    message = event["event"]["message"]
    message["chat_type"] = "group"
    message["root_id"] = root
    if mention:
        message["mentions"] = [
            {"key": "@_user_1", "id": {"open_id": mention, "union_id": "on_x", "user_id": ""}, "name": "wobot"}
        ]
    return event


def photo_post(client: FeishuClient, feishu: FakeFeishu, *pictures: bytes, text: str = "") -> dict:
    """A post (a photo sent with words or an @mention): an ``at`` tag, the text and one ``img`` per picture."""
    keys = [f"img_v3_{n}_{id(p)}" for n, p in enumerate(pictures)]
    line: list[dict] = [{"tag": "at", "user_id": "@_user_1", "user_name": "wobot"}, {"tag": "text", "text": text}]
    line += [{"tag": "img", "image_key": key} for key in keys]
    event = client.event("post", {"title": "", "content": [line]})
    message_id = event["event"]["message"]["message_id"]
    for key, picture in zip(keys, pictures, strict=True):
        feishu.add_resource(message_id, key, picture)
    return event


def test_a_mention_with_two_photos_starts_one_report_answered_in_a_thread(
    client: FeishuClient, feishu: FakeFeishu, real_store: Any
) -> None:
    start = in_group(photo_post(client, feishu, photo(1), photo(2), text="leak"), mention=feishu.bot_open_id)
    client.post(start)
    card = last_card(feishu)
    root = start["event"]["message"]["message_id"]
    assert card["reply_to"] == root and card["in_thread"] is True
    assert json.loads(card["content"])["body"]["elements"][0] == {
        "tag": "markdown",
        "content": f"<at id={OPEN_ID}></at>",
    }
    session = real_store.load(GROUP_KEY)
    assert session.chat == CHAT and len(session.pending["more_photos"]) == 1
    # the continuation, without a mention, inside the thread: answered in the same thread
    tap(client, feishu, "water leak")
    client.post(in_group(client.event("text", {"text": "B2 pump room"}), root=root))
    reply = feishu.delivered[-1]
    assert reply["reply_to"] == root and reply["in_thread"] is True and "B2 pump room" in json.dumps(reply)
    assert feishu.bot_info_calls == 1  # the bot's open_id is asked once


def test_group_chatter_and_mentions_of_someone_else_are_ignored(
    client: FeishuClient, feishu: FakeFeishu, real_store: Any
) -> None:
    client.post(in_group(client.event("text", {"text": "lunch at noon?"})))
    client.post(in_group(client.event("text", {"text": "@_user_1 can you check?"}), mention="ou_a_colleague"))
    assert feishu.delivered == [] and real_store.load(GROUP_KEY) is None
    client.post(in_group(client.event("text", {"text": "@_user_1 help"}), mention=feishu.bot_open_id))
    reply = feishu.delivered[-1]
    assert json.loads(reply["content"])["text"].startswith(f'<at user_id="{OPEN_ID}"></at> ')


def test_a_tap_on_someone_elses_card_gets_a_toast_and_changes_nothing(
    client: FeishuClient, feishu: FakeFeishu, real_store: Any
) -> None:
    client.post(in_group(photo_post(client, feishu, photo(3)), mention=feishu.bot_open_id))
    card = last_card(feishu)
    assert feishu_buttons(card)["water leak"]["for"] == OPEN_ID
    before = real_store.load(GROUP_KEY)
    answer = tap(client, feishu, "water leak", card=card, open_id=OTHER)
    assert json.loads(answer.body)["toast"]["content"] == say("en", "not_your_card")
    after = real_store.load(GROUP_KEY)
    assert after.pending == before.pending and real_store.load(f"feishu:{TENANT}:{OTHER}@{CHAT}") is None
    assert feishu.delivered[-1] is card or feishu.delivered[-1]["message_id"] == card["message_id"]


def test_a_heic_sent_as_a_file_is_a_photo_and_a_video_gets_a_polite_answer(
    client: FeishuClient, feishu: FakeFeishu, real_store: Any, storage: Any
) -> None:
    event = client.event("file", {"file_key": "file_v3_heic", "file_name": "IMG_0042.HEIC"})
    message_id = event["event"]["message"]["message_id"]
    feishu.add_resource(message_id, "file_v3_heic", heic(photo(4)), "application/octet-stream", kind="file")
    client.post(event)
    pending = real_store.load(f"feishu:{TENANT}:{OPEN_ID}").pending
    assert pending["image_type"] == "image/jpeg" and sniff_image_type(storage.get(pending["image_key"])) == "image/jpeg"
    client.post(client.event("media", {"file_key": "file_v3_mp4", "image_key": "img_v3_cover", "duration": 3000}))
    # mid-report: the polite answer, then the open question again (a card with its buttons)
    assert feishu.texts()[-1].startswith(say("en", "video_not_photo")) and feishu_buttons(feishu.delivered[-1])
