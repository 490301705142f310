"""The engine's states on fakes: every state x every kind of message, cancel, help and status, expiry, history,
languages, unexpected errors and the ops reset.

Tests assert what the user sees (reply texts through ``bot.replies.say``), the state the session ends in, the order
rows in the repository and the photos in storage.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

import fakeredis
import pytest

from bot.adapters.redis.records import record_json
from bot.adapters.redis.store import SessionStore
from bot.adapters.sql.orders import SqlWorkOrders
from bot.adapters.storage import LocalFolderStore
from bot.config import DEFAULT_ALARM_TYPES, Settings
from bot.dialogue.engine import Conversation
from bot.messages import Incoming, TurnResult
from bot.ports import Analysis, Order, Photo
from bot.replies import say, span
from bot.session import Session
from tests.support.conversation import (
    CHOICES_ZH,
    UNKNOWN_ORDER,
    ScriptedVlm,
    created,
    enter,
    joined,
    pic,
    session_of,
    texts,
)
from tests.support.engine import Chat, store_for

MESSAGES: dict[str, Callable[[Chat, str], TurnResult]] = {
    "text": lambda c, o: c.text("随便说点什么"),
    "image": lambda c, o: c.image(pic(2)),
    "location": lambda c, o: c.location("B2 停车场", 31.1, 121.2),
    "other": lambda c, o: c.other(),
    "cancel": lambda c, o: c.text("取消"),
    "help": lambda c, o: c.text("帮助"),
    "status": lambda c, o: c.text("状态"),
    "my_orders": lambda c, o: c.text("我的工单"),
    "order_query": lambda c, o: c.text(f"查工单 {o}"),
    "confirm": lambda c, o: c.text("确认"),
    "retry": lambda c, o: c.text("重试"),
    "type_change": lambda c, o: c.text("类型 漏水"),
    "number": lambda c, o: c.text("3"),
    "close": lambda c, o: c.text(f"结单 {o}"),
    "alarm": lambda c, o: c.text("告警 ALM-9"),
}


STATES = ("idle", "waiting_location", "waiting_confirm", "waiting_close_photo")


_STAY = {name: None for name in MESSAGES}  # None: the state does not change


EXPECTED: dict[str, dict[str, str | None]] = {
    "idle": {**_STAY, "close": "waiting_close_photo"},  # a photo is held: "a new report, or the fix?"
    "waiting_location": {**_STAY, "text": "waiting_confirm", "location": "waiting_confirm", "cancel": "idle"},
    "waiting_confirm": {**_STAY, "confirm": "idle", "cancel": "idle"},
    "waiting_close_photo": {**_STAY, "image": "idle", "cancel": "idle"},  # no VLM: a new photo closes it
}


@pytest.mark.parametrize("message", list(MESSAGES))
@pytest.mark.parametrize("state", STATES)
def test_state_message_matrix(
    chat: Chat, fake_store: SessionStore, open_order: Order, state: str, message: str
) -> None:
    enter(chat, state, open_order.id)
    assert (session_of(fake_store, chat) or Session(chat.key)).state == state
    result = MESSAGES[message](chat, open_order.id)
    expected = EXPECTED[state][message] or state
    assert result.state == expected
    assert session_of(fake_store, chat).state == expected
    assert result.replies and all(r.text.strip() for r in result.replies)
    assert say("zh", "internal_error") not in texts(result)


@pytest.mark.parametrize("state", STATES)
def test_cancel_from_every_state(chat: Chat, fake_store: SessionStore, open_order: Order, state: str) -> None:
    enter(chat, state, open_order.id)
    r = chat.text("取消")
    assert r.state == "idle"
    expected = "nothing_to_cancel" if state == "idle" else "cancelled"
    assert texts(r) == [say("zh", expected)]
    session = session_of(fake_store, chat)
    assert session.state == "idle" and session.pending == {}


def test_cancel_in_idle_with_a_linked_alarm_clears_it(chat: Chat, fake_store: SessionStore) -> None:
    chat.text("告警 ALM-1")
    r = chat.text("cancel")
    assert texts(r) == [say("zh", "cancelled")]
    assert session_of(fake_store, chat).pending == {}


def test_help_and_status_depend_on_state(chat: Chat, open_order: Order) -> None:
    assert texts(chat.text("帮助")) == [say("zh", "help_idle")]
    assert texts(chat.text("状态")) == [say("zh", "status_idle", alarm="")]
    # right after a photo without a VLM the open question is the type: help, status and the response agree
    r = chat.report_photo(pic(1))
    assert r.waiting_for == "alarm_type"
    assert texts(chat.text("help")) == [say("zh", "help_alarm_type")]
    assert list(chat.buttons()) == [*DEFAULT_ALARM_TYPES["zh"], say("zh", "choice_cancel")]
    assert texts(chat.text("status")) == [say("zh", "status_alarm_type"), say("zh", "ask_type", choices=CHOICES_ZH)]
    chat.text("1")
    assert chat.text("状态").replies[0].text == say("zh", "status_location", alarm_type="火情/烟雾")
    r = chat.text("配电房")
    assert r.waiting_for == "confirm"
    assert texts(chat.text("帮助")) == [say("zh", "help_confirm")]
    assert list(chat.buttons()) == [say("zh", "choice_confirm"), say("zh", "choice_cancel")]
    assert "配电房" in joined(chat.text("状态"))
    chat.text("取消")
    r = chat.text(f"结单 {open_order.id}")
    assert r.waiting_for == "close_photo"
    assert texts(chat.text("帮助")) == [say("zh", "help_close_photo", order_id=open_order.id)]
    assert texts(chat.text("状态")) == [
        say("zh", "status_close_photo", order_id=open_order.id),
        say("zh", "expect_close_photo", order_id=open_order.id),
    ]


def test_my_orders_and_order_query(chat: Chat, open_order: Order) -> None:
    r = chat.text("我的工单")
    assert open_order.id in joined(r) and "1号楼" in joined(r)
    r = chat.text(f"查工单 {open_order.id.lower()}")
    assert open_order.id in joined(r) and say("zh", "status_open") in joined(r)
    r = chat.text(f"order {UNKNOWN_ORDER}")
    assert texts(r) == [say("zh", "order_not_found", order_id=UNKNOWN_ORDER)]
    other = Chat(chat.engine, user="u2")
    assert texts(other.text("我的工单")) == [say("zh", "my_orders_none")]


def test_other_kind_is_unsupported(chat: Chat) -> None:
    assert texts(chat.other()) == [say("zh", "unsupported_kind")]


def test_first_text_gets_welcome_then_hint(chat: Chat) -> None:
    assert texts(chat.text("你好")) == [say("zh", "welcome")]
    assert texts(chat.text("你好")) == [say("zh", "idle_text")]


# ==========================================================================================================
# Expiry
# ==========================================================================================================
def test_expired_report_is_announced_and_starts_over(chat: Chat, fake_store: SessionStore, settings: Settings) -> None:
    chat.image(pic(1))
    fake_store.redis.delete(fake_store.session_redis_key(chat.key))  # what the TTL would do
    r = chat.text("配电房")
    told = say("zh", "timed_out", flow=say("zh", "flow_report"), span=span("zh", settings.session_ttl_seconds))
    assert texts(r)[0] == told and "10 分钟" in told
    assert r.state == "idle"
    assert session_of(fake_store, chat).pending == {}
    # announced once only
    r = chat.text("你好")
    assert told not in texts(r)


def test_expired_close_is_announced(chat: Chat, fake_store: SessionStore, open_order: Order) -> None:
    chat.text(f"结单 {open_order.id}")
    fake_store.redis.delete(fake_store.session_redis_key(chat.key))
    r = chat.image(pic(3))
    assert texts(r)[0] == say("zh", "timed_out", flow=say("zh", "flow_close"), span=say("zh", "span_minutes", count=10))
    assert r.state == "idle"  # the photo is held: "a new report, or the fix for …?"
    assert open_order.id[-5:] in " ".join(chat.buttons())


def test_the_expiry_says_the_time_the_session_really_had(
    make_engine: Callable[..., Conversation], settings: Settings
) -> None:
    # a store keeping sessions 60 s: "after 1 分钟", not the 10 minutes of the engine's own settings
    store = store_for(fakeredis.FakeRedis(), settings.with_(session_ttl_seconds=60))
    chat = Chat(make_engine(store=store))
    chat.image(pic(1))
    store.redis.delete(store.session_redis_key(chat.key))
    r = chat.text("配电房")
    assert texts(r)[0] == "之前的报修因 1 分钟未操作已过期，需要的话请重新开始。"


def test_expired_idle_session_gives_no_notice(chat: Chat, fake_store: SessionStore) -> None:
    chat.text("你好")
    fake_store.redis.delete(fake_store.session_redis_key(chat.key))
    r = chat.text("你好")
    assert texts(r) == [say("zh", "welcome")]


@pytest.mark.parametrize("raw", [b"{not json", b"[]", b'{"v": 1, "key": "test:t1:u1", "state": "renamed_state"}'])
def test_unreadable_session_starts_over(chat: Chat, fake_store: SessionStore, raw: bytes) -> None:
    fake_store.redis.set(fake_store.session_redis_key(chat.key), raw)
    r = chat.image(pic(1))
    assert r.state == "waiting_location"
    assert say("zh", "internal_error") not in texts(r)


# ==========================================================================================================
# History
# ==========================================================================================================
def test_history_is_capped_newest_kept(
    make_engine: Callable[..., Conversation], settings: Settings, fake_store: SessionStore
) -> None:
    chat = Chat(make_engine(settings=settings.with_(history_max_turns=3)))
    for i in range(12):
        chat.text(f"消息 {i}")
    history = session_of(fake_store, chat).history
    assert len(history) <= 6
    assert [h["text"] for h in history if h["role"] == "user"] == ["消息 9", "消息 10", "消息 11"]
    assert history[-1]["role"] == "bot"


def test_image_turns_store_keys_not_bytes(chat: Chat, fake_store: SessionStore, storage: LocalFolderStore) -> None:
    chat.image(pic(1))
    raw = fake_store.redis.get(fake_store.session_redis_key(chat.key))
    assert len(raw) < 4000  # a 10+ KB photo is not in there, in any encoding
    entry = session_of(fake_store, chat).history[0]
    assert entry["kind"] == "image" and "image" not in entry
    assert storage.get(entry["image_key"]) == pic(1)
    assert set(json.loads(record_json(raw))) >= {"v", "state", "pending", "history"}


# ==========================================================================================================
# Languages
# ==========================================================================================================
def test_english_replies_and_chinese_keywords(
    make_engine: Callable[..., Conversation], settings: Settings, orders: SqlWorkOrders
) -> None:
    chat = Chat(make_engine(settings=settings.with_(language="en")))
    assert texts(chat.text("hello")) == [say("en", "welcome")]
    assert texts(chat.text("帮助")) == [say("en", "help_idle")]
    chat.image(pic(1))
    chat.text("2")
    chat.location("Gate 4", 22.5, 114.0)
    r = chat.text("确认")
    assert r.order_id and texts(r) == [created(chat.engine, r.order_id, "en")]
    assert orders.get(r.order_id).alarm_type == "water leak"  # type: ignore[union-attr]
    assert texts(chat.text("取消")) == [say("en", "nothing_to_cancel")]


def test_chinese_mode_understands_english_keywords(chat: Chat) -> None:
    assert texts(chat.text("help")) == [say("zh", "help_idle")]
    chat.image(pic(1))
    chat.text("type 漏水")
    chat.text("Gate 4")
    r = chat.text("confirm")
    assert r.order_id and texts(r) == [created(chat.engine, r.order_id)]


def test_keywords_tolerate_punctuation_and_full_width(chat: Chat) -> None:
    chat.image(pic(1))
    r = chat.text("  取消。 ")
    assert texts(r) == [say("zh", "cancelled")] and r.state == "idle"
    chat.image(pic(1))
    r = chat.text("２")  # full-width digit
    assert texts(r)[0] == say("zh", "type_set", alarm_type="漏水")


# ==========================================================================================================
# Failures inside a turn
# ==========================================================================================================
class ExplodingVlm(ScriptedVlm):
    def analyze(self, photos: Sequence[Photo], alarm_types: tuple[str, ...], history: list[dict]) -> Analysis:
        raise RuntimeError("a bug, not a service failure")


def test_unexpected_error_is_one_sentence_and_session_unchanged(
    make_engine: Callable[..., Conversation], fake_store: SessionStore
) -> None:
    chat = Chat(make_engine(vlm=ExplodingVlm()))
    chat.text("告警 ALM-5")
    raw_before = fake_store.redis.get(fake_store.session_redis_key(chat.key))
    r = chat.image(pic(1))
    assert texts(r) == [say("zh", "internal_error")]
    assert r.state == "idle"
    assert fake_store.redis.get(fake_store.session_redis_key(chat.key)) == raw_before


def test_unexpected_error_mid_flow_keeps_the_state(
    make_engine: Callable[..., Conversation], fake_store: SessionStore
) -> None:
    vlm = ScriptedVlm()
    chat = Chat(make_engine(vlm=vlm))
    chat.image(pic(1))
    vlm.analyses = [RuntimeError("boom")]  # type: ignore[list-item]
    raw_before = fake_store.redis.get(fake_store.session_redis_key(chat.key))
    r = chat.image(pic(2))
    assert texts(r) == [say("zh", "internal_error")] and r.state == "waiting_location"
    assert fake_store.redis.get(fake_store.session_redis_key(chat.key)) == raw_before


# ==========================================================================================================
# Ops reset
# ==========================================================================================================
def test_ops_reset(chat: Chat, fake_store: SessionStore) -> None:
    chat.text("告警 ALM-1")
    chat.image(pic(1))
    history_before = session_of(fake_store, chat).history
    session = chat.engine.reset(chat.key)
    assert session is not None and session.state == "idle" and session.pending == {}
    stored = session_of(fake_store, chat)
    assert stored.state == "idle" and stored.pending == {}
    # history kept, except the link to the dropped report's photo, which is deleted
    assert stored.history == [{k: v for k, v in h.items() if k != "image_key"} for h in history_before]
    r = chat.text("确认")
    assert r.state == "idle" and r.order_id is None


def test_ops_reset_unknown_session(chat: Chat) -> None:
    assert chat.engine.reset("test:t1:nobody") is None


def test_a_re_run_sends_a_kept_answer_that_was_never_sent_and_only_once(
    make_engine: Callable[..., Conversation],
) -> None:
    """A turn that saved its answer and died before sending it (a consumer killed mid-delivery) is run again by the
    process that takes it over: that re-run sends the kept answer; a second re-run sends nothing."""
    engine = make_engine()
    message = Incoming(platform="slack", tenant="T1", user="U1", kind="text", text="help", event_id="Ev-9")
    first = engine.handle(message)  # answered, and no delivery: as if the process died before sending
    assert first.replies and not first.delivered
    sent: list[TurnResult] = []
    again = engine.handle(message, deliver=sent.append)
    assert again.duplicate and again.delivered and [r.replies for r in sent] == [first.replies]
    third = engine.handle(message, deliver=sent.append)
    assert third.duplicate and not third.delivered and len(sent) == 1
