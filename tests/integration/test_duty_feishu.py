"""Duty chats on Feishu, end to end: the duty card goes to the duty chat (``receive_id_type=chat_id``) with
the report photo uploaded through ``im/v1/images`` (multipart, ``image_type=message``) and a Claim button;
a Claim tap (a ``card.action.trigger`` as lark-oapi's P2CardActionTrigger names its fields) makes the
tapper the assignee and the card is PATCHed to say so; the reporter hears who is on it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from bot.config import Settings
from bot.replies import say
from tests.fakes.platform_servers import FakeFeishu, feishu_buttons
from tests.integration import test_feishu_buttons as buttons_tests
from tests.integration.test_feishu import OPEN_ID, TENANT, FeishuClient, feishu_settings
from tests.support.engine import photo
from tests.support.live import Live, live_app, order_id_in, wait_until

pytestmark = pytest.mark.integration

DUTY_CHAT = "oc_duty_room"
TECH = "ou_technician_1"
feishu = buttons_tests.feishu
tap = buttons_tests.tap


@pytest.fixture
def live(settings: Settings, feishu: FakeFeishu, real_store: Any, orders: Any, storage: Any) -> Iterator[Live]:
    duty = feishu_settings(settings, feishu, duty_routes=f"feishu:*={DUTY_CHAT}")
    with live_app(duty, store=real_store, orders=orders, storage=storage) as app:
        yield app


def test_the_duty_card_shows_the_photo_and_a_claim_redraws_it(live: Live, feishu: FakeFeishu, orders: Any) -> None:
    client = FeishuClient(live)
    client.image(feishu, photo(1))
    tap(client, feishu, "water leak")
    client.text("Gate 4, pump room")
    tap(client, feishu, say("en", "choice_confirm"))
    order_id = order_id_in(feishu.texts())
    live.delivered()

    [card] = [d for d in feishu.delivered if d.get("receive_id") == DUTY_CHAT]
    assert card["receive_id_type"] == "chat_id" and card["msg_type"] == "interactive"
    content = json.loads(card["content"])
    assert content["config"]["update_multi"] is True  # a shared card: the redraw is what everyone sees
    assert content["header"]["title"]["content"] == say("en", "duty_title", order_id=order_id, alarm_type="water leak")
    [image] = [e for e in content["body"]["elements"] if e["tag"] == "img"]
    assert feishu.images[image["img_key"]] == photo(1)  # the report photo itself, uploaded
    assert list(feishu_buttons(card)) == [say("en", "choice_claim")]

    answer = tap(client, feishu, say("en", "choice_claim"), card=card, open_id=TECH)
    assert answer.status == 200
    live.delivered()
    order = orders.get(order_id)
    assert order.assignee is not None and order.assignee.user == TECH and order.assignee.tenant == TENANT
    redrawn = feishu.message(card["message_id"])
    assignee_buttons = [say("en", f"choice_{n}") for n in ("start", "hold_parts", "hold_access", "done", "hand_over")]
    assert list(feishu_buttons(redrawn)) == [*assignee_buttons, say("en", "choice_unclaim")]
    assert f"Claimed by {TECH}" in redrawn["content"]
    # the assignee's Start on the card moves the order (bot.orders.life); the card shows it
    assert tap(client, feishu, say("en", "choice_start"), card=redrawn, open_id=TECH).status == 200
    live.delivered()
    assert orders.get(order_id).life == "in_progress"
    shown = lambda: f"In progress: {TECH}" in feishu.message(card["message_id"])["content"]  # noqa: E731
    wait_until(shown, 10, "the card redrawn")  # the outbox empties as the courier takes the event
    assert say("en", "claim_won", order_id=order_id) in feishu.texts(receive_id=TECH)
    told = say("en", "tell_reporter_claimed", order_id=order_id, alarm_type="water leak", who=TECH)
    assert told in feishu.texts(receive_id=OPEN_ID)


def test_a_reply_to_the_duty_card_is_a_note_on_its_order(live: Live, feishu: FakeFeishu, orders: Any) -> None:
    client = FeishuClient(live)
    client.image(feishu, photo(1))
    tap(client, feishu, "water leak")
    client.text("Gate 4, pump room")
    tap(client, feishu, say("en", "choice_confirm"))
    order_id = order_id_in(feishu.texts())
    live.delivered()
    [card] = [d for d in feishu.delivered if d.get("receive_id") == DUTY_CHAT]
    # a reply to the card in the duty chat, as im.message.receive_v1 sends it: root_id and parent_id name the card
    reply = client.event("text", {"text": "the valve is shut"}, open_id=TECH)
    message = reply["event"]["message"]
    message.update(chat_id=DUTY_CHAT, chat_type="group", root_id=card["message_id"], parent_id=card["message_id"])
    assert client.post(reply).status == 200
    [note] = [row for row in orders.timeline(order_id) if row["kind"] == "note_added"]
    assert note["actor_user"] == TECH and note["detail"] == {"text": "the valve is shut"}
    assert say("en", "did_note", order_id=order_id) in feishu.texts(receive_id=TECH)
