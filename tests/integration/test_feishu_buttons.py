"""Feishu cards end to end: the bot's card JSON 2.0 on a local fake Feishu, tapped back as Feishu sends
``card.action.trigger`` (event 2.0 envelope, fields as lark-oapi's ``P2CardActionTrigger`` model reads
them, encrypted and signed like every event), through the real app on real Redis."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from bot.config import Settings
from bot.replies import say
from tests.fakes.platform_servers import FakeFeishu, feishu_buttons
from tests.integration.test_feishu import (
    APP_ID,
    APP_SECRET,
    CHAT,
    OPEN_ID,
    TENANT,
    FeishuClient,
    feishu_settings,
)
from tests.support.engine import photo
from tests.support.live import Live, live_app, order_id_in

# a tap no longer open, in idle: said so, then what the bot can do (one message)
STALE_IN_IDLE = say("en", "choice_closed") + "\n\n" + say("en", "idle_text")

pytestmark = pytest.mark.integration

CONFIRM, CANCEL = say("en", "choice_confirm"), say("en", "choice_cancel")
_ids = itertools.count(1)


@pytest.fixture
def feishu() -> Iterator[FakeFeishu]:
    with FakeFeishu(app_id=APP_ID, app_secret=APP_SECRET) as server:
        yield server


@pytest.fixture
def live(settings: Settings, feishu: FakeFeishu, real_store: Any, orders: Any, storage: Any) -> Iterator[Live]:
    with live_app(feishu_settings(settings, feishu), store=real_store, orders=orders, storage=storage) as app:
        yield app


@pytest.fixture
def client(live: Live) -> FeishuClient:
    return FeishuClient(live)


def last_card(feishu: FakeFeishu) -> dict:
    return next(d for d in reversed(feishu.delivered) if d["msg_type"] == "interactive")


def tap(client: FeishuClient, feishu: FakeFeishu, label: str, card: dict | None = None, open_id: str = OPEN_ID) -> Any:
    """Tap the button labelled ``label`` on the last card (or ``card``) as Feishu pushes it."""
    card = card or last_card(feishu)
    value = feishu_buttons(card)[label]
    n = next(_ids)
    payload = {
        "schema": "2.0",
        "header": {
            "event_id": f"card-ev-{n:08d}-{time.time_ns()}",
            "token": client.token,
            "create_time": str(int(time.time() * 1_000_000)),
            "event_type": "card.action.trigger",
            "tenant_key": TENANT,
            "app_id": APP_ID,
        },
        "event": {
            "operator": {"tenant_key": TENANT, "user_id": "e33ggbyz", "open_id": open_id, "union_id": "on_1"},
            "token": f"c-{n}",
            "action": {"value": value, "tag": "button"},
            "host": "im_message",
            "context": {"open_message_id": card["message_id"], "open_chat_id": CHAT},
        },
    }
    return client.post(payload)


def test_report_and_close_by_taps(client: FeishuClient, feishu: FakeFeishu, orders: Any) -> None:
    client.image(feishu, photo(1))
    card = last_card(feishu)
    assert list(feishu_buttons(card))[-1] == CANCEL and "water leak" in feishu_buttons(card)

    answer = tap(client, feishu, "water leak")
    assert answer.status == 200  # answered within Feishu's 3 s with a toast, the turn after it
    assert json.loads(answer.body) == {
        "toast": {"type": "info", "content": say("en", "tap_received", label="water leak")}
    }
    redrawn = feishu.message(card["message_id"])
    assert feishu_buttons(redrawn) == {} and say("en", "card_picked", label="water leak") in redrawn["content"]

    client.text("Gate 4, pump room")
    assert list(feishu_buttons(last_card(feishu))) == [CONFIRM, CANCEL]
    delivered = len(feishu.delivered)
    tap(client, feishu, CONFIRM)
    assert len(feishu.delivered) == delivered + 1  # one message per turn
    order_id = order_id_in(feishu.texts())
    assert orders.get(order_id).status == "open"

    client.image(feishu, photo(2))  # the fixed site, without typing "close" first
    tap(client, feishu, say("en", "choice_order", short=order_id[-5:], what="water leak"))
    assert orders.get(order_id).status == "closed"
    assert feishu.texts()[-1] == say("en", "close_unverified", order_id=order_id)


def test_a_double_tap_makes_one_order(client: FeishuClient, feishu: FakeFeishu, orders: Any) -> None:
    client.image(feishu, photo(1))
    tap(client, feishu, "water leak")
    client.text("Gate 4")
    summary = dict(last_card(feishu))
    tap(client, feishu, CONFIRM, summary)
    tap(client, feishu, CONFIRM, summary)
    assert orders.counts()["open"] == 1 and feishu.texts()[-1] == STALE_IN_IDLE


def test_a_stale_tap_after_cancel_changes_nothing(client: FeishuClient, feishu: FakeFeishu) -> None:
    client.image(feishu, photo(1))
    card = dict(last_card(feishu))
    client.text("cancel")
    tap(client, feishu, "water leak", card)
    assert feishu.texts()[-1] == STALE_IN_IDLE
    client.text("status")
    assert feishu.texts()[-1] == say("en", "status_idle", alarm="")


def test_a_tap_with_a_wrong_token_is_refused(client: FeishuClient, feishu: FakeFeishu) -> None:
    client.image(feishu, photo(1))
    client.token = "not-the-token"
    assert tap(client, feishu, CANCEL).status == 403


def test_a_photo_gets_a_reaction_before_the_analysis(
    settings: Settings, feishu: FakeFeishu, fake_openai: Any, real_store: Any, orders: Any, storage: Any
) -> None:
    app_settings = feishu_settings(
        settings, feishu, vlm_base_url=fake_openai.base_url, vlm_api_key="sk-test", nlu_base_url="off"
    )
    with live_app(app_settings, store=real_store, orders=orders, storage=storage) as live:
        FeishuClient(live).image(feishu, photo(1))
        reaction = feishu.calls("reaction")[0]
        assert reaction.json == {"reaction_type": {"emoji_type": "OK"}}
        assert feishu.requests.index(reaction) < feishu.requests.index(feishu.calls("resource")[0])
        assert feishu.reactions[0]["message_id"] == feishu.calls("resource")[0].path.split("/")[5]
