"""The engine end to end on fakes: fakeredis sessions, a local photo folder, SQLite orders, a scripted VLM.

Tests assert what the user sees (reply texts through ``bot.replies.say``), the state the
session ends in, the order rows in the repository and the photos in storage.
"""

from __future__ import annotations

import functools
import io
import json
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from PIL import Image

from bot.config import Settings
from bot.conversation import Conversation
from bot.messages import TurnResult
from bot.orders import SqlWorkOrders
from bot.ports import Analysis, NewOrder, Order, Photo, Reporter, Verdict, VlmError
from bot.replies import say
from bot.session import Session, record_json
from bot.storage import LocalFolderStore
from bot.store import SessionStore
from tests.support.engine import Chat, photo

ZH_TYPES = Settings().alarm_type_list
EN_TYPES = Settings(language="en").alarm_type_list
CHOICES_ZH = "\n".join(f"{i}. {t}" for i, t in enumerate(ZH_TYPES, 1))
CHOICES_EN = "\n".join(f"{i}. {t}" for i, t in enumerate(EN_TYPES, 1))
UNKNOWN_ORDER = "WO-20200101-ABCDE"


@functools.cache
def pic(seed: int = 1) -> bytes:
    """Cached synthetic photos: generating them is the slowest part of a turn."""
    return photo(seed)


def reencode(data: bytes, quality: int = 40, size: tuple[int, int] | None = None) -> bytes:
    img = Image.open(io.BytesIO(data)).convert("RGB")
    if size:
        img = img.resize(size)
    out = io.BytesIO()
    img.save(out, "JPEG", quality=quality)
    return out.getvalue()


def texts(result: TurnResult) -> list[str]:
    return [r.text for r in result.replies]


def joined(result: TurnResult) -> str:
    return "\n".join(texts(result))


# -- a scripted VLM ---------------------------------------------------------------------------------------
class ScriptedVlm:
    """Implements the Vlm port; answers from a script (the last entry repeats) and records every call."""

    def __init__(
        self,
        analyses: list[Analysis | BaseException] | None = None,
        verdicts: list[Verdict | BaseException] | None = None,
    ) -> None:
        self.analyses = list(analyses or [Analysis("漏水", "吊顶渗水，地面有积水。", "high", 0.9)])
        self.verdicts = list(verdicts or [Verdict(True, "地面已干燥，无渗水。")])
        self.analyze_calls: list[dict[str, Any]] = []
        self.verify_calls: list[dict[str, Any]] = []

    @staticmethod
    def _next(script: list[Any]) -> Any:
        item = script.pop(0) if len(script) > 1 else script[0]
        if isinstance(item, BaseException):
            raise item
        return item

    def analyze(self, photos: Sequence[Photo], alarm_types: tuple[str, ...], history: list[dict]) -> Analysis:
        call = {"photo": photos[0], "photos": list(photos), "alarm_types": alarm_types, "history": list(history)}
        self.analyze_calls.append(call)
        return self._next(self.analyses)

    def verify_fixed(self, before: Sequence[Photo], after: Photo, description: str, history: list[dict]) -> Verdict:
        call = {"before": before[0], "befores": list(before), "after": after, "description": description}
        self.verify_calls.append(call)
        return self._next(self.verdicts)


# -- helpers ----------------------------------------------------------------------------------------------
@pytest.fixture
def chat(make_engine: Callable[..., Conversation]) -> Chat:
    return Chat(make_engine())


def session_of(store: SessionStore, chat: Chat) -> Any:
    return store.load(chat.key)


def report(chat: Chat, seed: int = 1, where: str = "3号楼2层东侧走廊", vlm: bool = False) -> str:
    """Run a whole report; return the new order's id."""
    chat.report_photo(pic(seed))
    if not vlm:
        chat.text("2")
    chat.text(where)
    result = chat.text("确认")
    assert result.order_id, texts(result)
    return result.order_id


def created(engine: Conversation, order_id: str, lang: str = "zh") -> str:
    """The "order created" reply, with its time in the default TIMEZONE."""
    order = engine.services.orders.get(order_id)
    assert order is not None
    when = order.created_at.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")
    return say(lang, "order_created", order_id=order_id, created=when)


def stored_files(storage_dir: str) -> list[Path]:
    root = Path(storage_dir)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


# ==========================================================================================================
# Report flow
# ==========================================================================================================
def test_report_without_vlm_pick_type_by_number(
    chat: Chat, fake_store: SessionStore, orders: SqlWorkOrders, storage: LocalFolderStore
) -> None:
    r = chat.image(pic(1))
    assert r.state == "waiting_location"
    assert texts(r) == [say("zh", "photo_received"), say("zh", "ask_type", choices=CHOICES_ZH)]
    key = session_of(fake_store, chat).pending["image_key"]
    assert storage.get(key) == pic(1)

    r = chat.text("2")
    assert r.state == "waiting_location"
    assert texts(r) == [say("zh", "type_set", alarm_type="漏水"), say("zh", "ask_location")]

    r = chat.text("3号楼2层东侧走廊")
    assert r.state == "waiting_confirm"
    summary = texts(r)[0]
    assert "漏水" in summary and "3号楼2层东侧走廊" in summary
    fields = "\n".join(
        [say("zh", "summary_type", value="漏水"), say("zh", "summary_location", value="3号楼2层东侧走廊")]
    )
    assert summary == say("zh", "summary", fields=fields)  # no "not set" lines for what has no value

    r = chat.text("确认")
    assert r.state == "idle"
    assert r.order_id and r.order_id.startswith("WO-")
    order = orders.get(r.order_id)
    assert order is not None
    created = order.created_at.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")
    assert texts(r) == [say("zh", "order_created", order_id=r.order_id, created=created)]
    assert (order.status, order.alarm_type, order.location_text) == ("open", "漏水", "3号楼2层东侧走廊")
    assert order.latitude is None and order.longitude is None
    assert order.report_photo_key == key
    session = session_of(fake_store, chat)
    assert session.state == "idle" and session.pending == {}


def test_report_with_vlm_location_message_and_every_order_field(
    make_engine: Callable[..., Conversation],
    fake_store: SessionStore,
    orders: SqlWorkOrders,
    storage: LocalFolderStore,
) -> None:
    vlm = ScriptedVlm()
    chat = Chat(make_engine(vlm=vlm))

    r = chat.text("告警 ALM-123")
    assert texts(r) == [say("zh", "alarm_linked", alarm_id="ALM-123")]
    assert r.state == "idle"

    r = chat.image(pic(1))
    assert r.state == "waiting_location"
    assert texts(r) == [
        say(
            "zh",
            "analysis",
            alarm_type="漏水",
            severity=say("zh", "severity_high"),
            description="吊顶渗水，地面有积水。",
        ),
        say("zh", "ask_location"),
    ]
    assert vlm.analyze_calls[0]["photo"].data == pic(1)
    assert vlm.analyze_calls[0]["alarm_types"] == ZH_TYPES

    r = chat.location("B1 泵房", 31.230416, 121.473701)
    assert r.state == "waiting_confirm"
    summary = joined(r)
    assert "31.230416,121.473701" in summary and "B1 泵房" in summary
    assert "ALM-123" in summary and "吊顶渗水" in summary and say("zh", "severity_high") in summary

    r = chat.text("确认")
    assert r.state == "idle" and r.order_id
    order = orders.get(r.order_id)
    assert order is not None
    assert order.status == "open"
    assert order.alarm_type == "漏水"
    assert order.description == "吊顶渗水，地面有积水。"
    assert order.severity == "high"
    assert order.location_text == "B1 泵房"
    assert order.latitude == pytest.approx(31.230416) and order.longitude == pytest.approx(121.473701)
    assert storage.get(order.report_photo_key) == pic(1)
    assert order.reporter == Reporter("test", "t1", "u1")
    assert order.alarm_id == "ALM-123"
    assert order.close_photo_key is None and order.closed_at is None
    user_texts = [h.get("text") for h in order.history if h["role"] == "user"]
    assert user_texts == ["告警 ALM-123", "", "", "确认"]
    assert any(h.get("image_key") == order.report_photo_key for h in order.history)
    assert any("B1 泵房" in (h.get("location") or "") for h in order.history)
    assert any(h["role"] == "bot" and "吊顶渗水" in h["text"] for h in order.history)
    # the alarm link was for this report only
    session = session_of(fake_store, chat)
    assert session.state == "idle" and "alarm_id" not in session.pending
    r = chat.text("状态")
    assert texts(r) == [say("zh", "status_idle", alarm="")]


def test_alarm_link_applies_to_next_report_only(chat: Chat, orders: SqlWorkOrders) -> None:
    chat.text("告警 ALM-123")
    first = report(chat, seed=1)
    second = report(chat, seed=2)
    assert orders.get(first).alarm_id == "ALM-123"  # type: ignore[union-attr]
    assert orders.get(second).alarm_id is None  # type: ignore[union-attr]


def test_alarm_link_while_reporting(chat: Chat, orders: SqlWorkOrders) -> None:
    chat.image(pic(1))
    r = chat.text("alarm alm-77")
    assert texts(r) == [say("zh", "alarm_linked_pending", alarm_id="ALM-77")]
    assert r.state == "waiting_location"
    chat.text("2")
    r = chat.text("机房")
    assert "ALM-77" in joined(r)
    oid = chat.text("确认").order_id
    assert orders.get(oid).alarm_id == "ALM-77"  # type: ignore[arg-type, union-attr]


def test_session_ttl_is_set_on_every_turn(chat: Chat, fake_store: SessionStore, settings: Settings) -> None:
    chat.image(pic(1))
    assert 0 < fake_store.ttl(chat.key) <= settings.session_ttl_seconds  # type: ignore[operator]
    fake_store.set_ttl(chat.key, 5)
    chat.text("help")
    assert fake_store.ttl(chat.key) > 5  # type: ignore[operator]


# ==========================================================================================================
# Every state x every kind of message
# ==========================================================================================================
@pytest.fixture
def open_order(storage: LocalFolderStore, orders: SqlWorkOrders) -> Order:
    """An open order of the chat user (u1), made directly in the repository."""
    key = storage.put(pic(7), "image/jpeg")
    order, _ = orders.create(
        NewOrder(
            report_key="fixture-order",
            reporter=Reporter("test", "t1", "u1"),
            alarm_type="漏水",
            description="管道漏水",
            severity="high",
            location_text="1号楼",
            latitude=None,
            longitude=None,
            report_photo_key=key,
            alarm_id=None,
            history=[],
        )
    )
    return order


def enter(chat: Chat, state: str, order_id: str) -> None:
    if state in ("waiting_location", "waiting_confirm"):
        chat.image(pic(1))  # the user has an open order: "a new report, or the fix?"
        chat.text("新报修")
    if state == "waiting_confirm":
        chat.text("1")
        chat.text("配电房")
    if state == "waiting_close_photo":
        chat.text(f"结单 {order_id}")


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


def test_photo_in_waiting_location_replaces_and_reanalyzes(
    make_engine: Callable[..., Conversation], fake_store: SessionStore, storage: LocalFolderStore
) -> None:
    vlm = ScriptedVlm(
        analyses=[
            Analysis("漏水", "水管漏水", "high", 0.9),
            Analysis("电气故障", "配电箱冒烟", "medium", 0.8),
        ]
    )
    chat = Chat(make_engine(vlm=vlm))
    chat.image(pic(1))
    first_key = session_of(fake_store, chat).pending["image_key"]
    r = chat.image(pic(2))
    assert r.state == "waiting_location"
    assert texts(r) == [
        say("zh", "photo_replaced"),
        say("zh", "analysis", alarm_type="电气故障", severity=say("zh", "severity_medium"), description="配电箱冒烟"),
        say("zh", "ask_location"),
    ]
    pending = session_of(fake_store, chat).pending
    assert pending["image_key"] != first_key and storage.get(pending["image_key"]) == pic(2)
    assert pending["alarm_type"] == "电气故障"
    assert [c["photo"].data for c in vlm.analyze_calls] == [pic(1), pic(2)]


def test_photo_in_waiting_confirm_replaces_keeps_location_and_shows_summary(
    make_engine: Callable[..., Conversation],
    fake_store: SessionStore,
    orders: SqlWorkOrders,
    storage: LocalFolderStore,
) -> None:
    vlm = ScriptedVlm(
        analyses=[
            Analysis("漏水", "水管漏水", "high", 0.9),
            Analysis("通道堵塞", "消防通道堆放杂物", "low", 0.7),
        ]
    )
    chat = Chat(make_engine(vlm=vlm))
    chat.image(pic(1))
    chat.text("5号楼楼梯间")
    r = chat.image(pic(2))
    assert r.state == "waiting_confirm"
    assert texts(r)[0] == say("zh", "photo_replaced")
    assert "消防通道堆放杂物" in texts(r)[1]
    summary = texts(r)[-1]
    assert "通道堵塞" in summary and "5号楼楼梯间" in summary and "水管漏水" not in summary
    oid = chat.text("确认").order_id
    order = orders.get(oid)  # type: ignore[arg-type]
    assert order is not None and order.alarm_type == "通道堵塞"
    assert storage.get(order.report_photo_key) == pic(2)


def test_text_while_waiting_for_close_photo_gets_the_reminder(chat: Chat, open_order: Order) -> None:
    chat.text(f"结单 {open_order.id}")
    for message in ("修好了", "确认", "3", "类型 漏水"):
        r = chat.text(message)
        assert texts(r) == [say("zh", "expect_close_photo", order_id=open_order.id)]
        assert r.state == "waiting_close_photo"
    r = chat.location("B2", 1.0, 2.0)
    assert texts(r) == [say("zh", "expect_close_photo", order_id=open_order.id)]


@pytest.mark.parametrize("state", ["waiting_location", "waiting_confirm", "waiting_close_photo"])
def test_close_command_while_busy_says_finish_first(chat: Chat, open_order: Order, state: str) -> None:
    enter(chat, state, open_order.id)
    r = chat.text(f"结单 {open_order.id}")
    flow = say("zh", "flow_close" if state == "waiting_close_photo" else "flow_report")
    assert texts(r) == [say("zh", "finish_first", flow=flow)]
    assert r.state == state


def test_confirm_without_location_asks_for_it(chat: Chat, orders: SqlWorkOrders) -> None:
    chat.image(pic(1))
    r = chat.text("确认")
    assert texts(r) == [say("zh", "need_location")]
    assert r.state == "waiting_location"
    assert orders.counts()["open"] == 0


def test_confirm_without_type_asks_for_it(chat: Chat, orders: SqlWorkOrders) -> None:
    chat.image(pic(1))
    r = chat.text("车库入口")  # the place before the type: kept, and the type is asked next
    assert texts(r) == [say("zh", "ask_type", choices=CHOICES_ZH)]
    r = chat.text("确认")
    assert texts(r) == [say("zh", "need_type", choices=CHOICES_ZH)]
    assert r.state == "waiting_confirm"
    assert orders.counts()["open"] == 0


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
    chat.report_photo(pic(1))
    assert texts(chat.text("help")) == [say("zh", "help_waiting_location"), say("zh", "need_type", choices=CHOICES_ZH)]
    assert texts(chat.text("status")) == [
        say("zh", "status_waiting_location", alarm_type=say("zh", "unknown")),
        say("zh", "ask_type", choices=CHOICES_ZH),
    ]
    chat.text("1")
    chat.text("配电房")
    assert texts(chat.text("帮助")) == [say("zh", "help_waiting_confirm")]
    assert list(chat.buttons()) == [say("zh", "choice_confirm"), say("zh", "choice_cancel")]
    assert "配电房" in joined(chat.text("状态"))
    chat.text("取消")
    chat.text(f"结单 {open_order.id}")
    assert texts(chat.text("帮助")) == [say("zh", "help_waiting_close_photo", order_id=open_order.id)]
    assert texts(chat.text("状态")) == [say("zh", "status_waiting_close_photo", order_id=open_order.id)]


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
# Corrections in waiting_confirm
# ==========================================================================================================
def test_corrections_in_waiting_confirm(chat: Chat, fake_store: SessionStore, orders: SqlWorkOrders) -> None:
    chat.image(pic(1))
    chat.text("1")
    chat.location("旧位置", 30.0, 120.0)

    r = chat.text("4号楼屋顶东侧")
    assert r.state == "waiting_confirm"
    assert "4号楼屋顶东侧" in joined(r) and "旧位置" not in joined(r) and "30.000000" not in joined(r)

    r = chat.text("类型 漏水")
    assert texts(r)[0] == say("zh", "type_set", alarm_type="漏水")
    assert "类型：漏水" in texts(r)[1]

    r = chat.text("5")
    assert texts(r)[0] == say("zh", "type_set", alarm_type="设备故障")
    assert "类型：设备故障" in texts(r)[1]

    r = chat.text("类型：不存在的类型")
    assert texts(r) == [say("zh", "type_unknown", choices=CHOICES_ZH)]
    r = chat.text("99")
    assert texts(r) == [say("zh", "type_unknown", choices=CHOICES_ZH)]
    assert r.state == "waiting_confirm"
    assert session_of(fake_store, chat).pending["alarm_type"] == "设备故障"

    oid = chat.text("确认").order_id
    order = orders.get(oid)  # type: ignore[arg-type]
    assert order is not None
    assert (order.alarm_type, order.location_text, order.latitude) == ("设备故障", "4号楼屋顶东侧", None)


def test_type_correction_in_english(make_engine: Callable[..., Conversation], settings: Settings) -> None:
    chat = Chat(make_engine(settings=settings.with_(language="en")))
    r = chat.image(pic(1))
    assert texts(r) == [say("en", "photo_received"), say("en", "ask_type", choices=CHOICES_EN)]
    chat.text("1")
    r = chat.text("Building 3, roof")
    assert "Type: fire/smoke" in joined(r)
    r = chat.text("type water leak")
    assert texts(r)[0] == say("en", "type_set", alarm_type="water leak")
    assert "Type: water leak" in texts(r)[1] and "Building 3, roof" in texts(r)[1]
    r = chat.text("type: spaceship")
    assert texts(r) == [say("en", "type_unknown", choices=CHOICES_EN)]
    r = chat.text("confirm")
    assert r.order_id and texts(r) == [created(chat.engine, r.order_id, "en")]


# ==========================================================================================================
# Idempotent creation
# ==========================================================================================================
def test_double_confirm_makes_one_order(chat: Chat, orders: SqlWorkOrders) -> None:
    chat.image(pic(1))
    chat.text("2")
    chat.text("配电房")
    first = chat.text("确认")
    second = chat.text("确认")
    assert first.order_id and second.order_id is None
    assert second.replies and say("zh", "internal_error") not in texts(second)
    assert orders.counts()["open"] == 1


def test_concurrent_double_confirm_makes_one_order(chat: Chat, orders: SqlWorkOrders) -> None:
    chat.image(pic(1))
    chat.text("2")
    chat.text("配电房")
    results: list[TurnResult] = []
    threads = [threading.Thread(target=lambda: results.append(chat.text("确认"))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(results) == 2
    assert len([r for r in results if r.order_id]) == 1
    assert orders.counts()["open"] == 1


def test_replayed_confirm_after_a_lost_session_write_returns_the_same_order(
    chat: Chat, fake_store: SessionStore, orders: SqlWorkOrders
) -> None:
    """A worker that created the order but whose session write was lost: the retry must not open a second one."""
    chat.image(pic(1))
    chat.text("2")
    chat.text("配电房")
    before = fake_store.redis.get(fake_store.session_redis_key(chat.key))
    first = chat.text("确认")
    fake_store.redis.set(fake_store.session_redis_key(chat.key), before)  # the confirm "never happened"
    again = chat.text("确认")
    assert again.order_id == first.order_id
    assert orders.counts()["open"] == 1


def test_same_event_delivered_three_times(chat: Chat, orders: SqlWorkOrders) -> None:
    chat.image(pic(1))
    chat.text("2")
    chat.text("配电房")
    results = [chat.text("确认", event_id="evt-1") for _ in range(3)]
    assert [r.duplicate for r in results] == [False, True, True]
    assert len({r.order_id for r in results}) == 1 and results[0].order_id
    assert all(texts(r) == texts(results[0]) for r in results)
    assert orders.counts()["open"] == 1


def test_duplicate_photo_event_is_not_stored_twice(chat: Chat, settings: Settings) -> None:
    chat.image(pic(1), event_id="img-1")
    r = chat.image(pic(1), event_id="img-1")
    assert r.duplicate and r.state == "waiting_location"
    assert len(stored_files(settings.storage_dir)) == 1


# ==========================================================================================================
# Close flow
# ==========================================================================================================
def test_close_unknown_order(chat: Chat) -> None:
    r = chat.text(f"结单 {UNKNOWN_ORDER}")
    assert texts(r) == [say("zh", "order_not_found", order_id=UNKNOWN_ORDER)]
    assert r.state == "idle"


def test_close_an_order_that_is_not_open(chat: Chat, orders: SqlWorkOrders, open_order: Order) -> None:
    orders.close(open_order.id, open_order.report_photo_key, True, "done", open_order.reporter)
    r = chat.text(f"close {open_order.id}")
    assert texts(r) == [say("zh", "order_not_open", order_id=open_order.id, status=say("zh", "status_closed"))]
    assert r.state == "idle"


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param(lambda b: b, id="same-bytes"),
        pytest.param(lambda b: reencode(b, quality=40), id="jpeg-q40"),
        pytest.param(lambda b: reencode(b, quality=85, size=(160, 120)), id="resized"),
        pytest.param(lambda b: reencode(b, quality=90, size=(640, 480)), id="upscaled"),
    ],
)
def test_close_with_the_report_photo_again_is_refused(
    make_engine: Callable[..., Conversation], orders: SqlWorkOrders, variant: Callable[[bytes], bytes]
) -> None:
    vlm = ScriptedVlm()
    chat = Chat(make_engine(vlm=vlm))
    oid = report(chat, seed=1, vlm=True)
    r = chat.text(f"结单 {oid}")
    assert r.state == "waiting_close_photo"
    assert texts(r) == [say("zh", "ask_close_photo", order_id=oid, alarm_type="漏水", location="3号楼2层东侧走廊")]
    r = chat.image(variant(pic(1)))
    assert texts(r) == [say("zh", "close_same_photo")]
    assert r.state == "waiting_close_photo"
    assert vlm.verify_calls == []
    assert orders.get(oid).status == "open"  # type: ignore[union-attr]


def test_close_resolved_by_vlm(
    make_engine: Callable[..., Conversation],
    orders: SqlWorkOrders,
    storage: LocalFolderStore,
    fake_store: SessionStore,
) -> None:
    vlm = ScriptedVlm(verdicts=[Verdict(True, "地面已干燥。")])
    chat = Chat(make_engine(vlm=vlm))
    oid = report(chat, seed=1, vlm=True)
    chat.text(f"结单 {oid}")
    r = chat.image(pic(3))
    assert r.state == "idle" and r.order_id == oid
    assert texts(r) == [say("zh", "close_resolved", order_id=oid, reason="地面已干燥。")]
    order = orders.get(oid)
    assert order is not None and order.status == "closed" and order.closed_at is not None
    assert order.vlm_resolved is True and order.vlm_reason == "地面已干燥。"
    assert order.close_photo_key and storage.get(order.close_photo_key) == pic(3)
    call = vlm.verify_calls[0]
    assert call["before"].data == pic(1) and call["after"].data == pic(3)
    assert call["description"] == "吊顶渗水，地面有积水。"
    assert session_of(fake_store, chat).pending == {}


def test_close_not_resolved_then_resolved(make_engine: Callable[..., Conversation], orders: SqlWorkOrders) -> None:
    vlm = ScriptedVlm(verdicts=[Verdict(False, "地面仍有积水。"), Verdict(True, "已修复。")])
    chat = Chat(make_engine(vlm=vlm))
    oid = report(chat, seed=1, vlm=True)
    chat.text(f"结单 {oid}")
    r = chat.image(pic(3))
    assert texts(r) == [say("zh", "close_not_resolved", reason="地面仍有积水。")]
    assert r.state == "waiting_close_photo" and r.order_id is None
    assert orders.get(oid).status == "open"  # type: ignore[union-attr]
    r = chat.image(pic(4))
    assert r.state == "idle" and r.order_id == oid
    order = orders.get(oid)
    assert order is not None and order.status == "closed" and order.vlm_reason == "已修复。"


def test_close_vlm_error_keeps_waiting(make_engine: Callable[..., Conversation], orders: SqlWorkOrders) -> None:
    vlm = ScriptedVlm(verdicts=[VlmError("timeout"), Verdict(True, "好了")])
    chat = Chat(make_engine(vlm=vlm))
    oid = report(chat, seed=1, vlm=True)
    chat.text(f"结单 {oid}")
    r = chat.image(pic(3))
    assert texts(r) == [say("zh", "close_vlm_failed")]
    assert r.state == "waiting_close_photo"
    assert orders.get(oid).status == "open"  # type: ignore[union-attr]
    r = chat.image(pic(3))
    assert r.state == "idle" and orders.get(oid).status == "closed"  # type: ignore[union-attr]


def test_close_without_vlm_is_unverified(chat: Chat, orders: SqlWorkOrders, storage: LocalFolderStore) -> None:
    oid = report(chat, seed=1)
    chat.text(f"结单 {oid}")
    r = chat.image(pic(3))
    assert texts(r) == [say("zh", "close_unverified", order_id=oid)]
    assert r.state == "idle" and r.order_id == oid
    order = orders.get(oid)
    assert order is not None and order.status == "closed" and order.vlm_resolved is None
    assert storage.get(order.close_photo_key) == pic(3)  # type: ignore[arg-type]


def test_close_without_id_uses_the_only_open_order(chat: Chat, open_order: Order) -> None:
    r = chat.text("结单")
    assert r.state == "waiting_close_photo"
    assert open_order.id in joined(r)


def test_close_without_id_lists_several_open_orders(chat: Chat, open_order: Order) -> None:
    second = report(chat, seed=2)
    r = chat.text("结单")
    assert r.state == "idle"
    assert open_order.id in joined(r) and second in joined(r)
    assert joined(r).startswith(say("zh", "close_which", orders="").strip())


def test_close_without_id_and_no_open_orders(chat: Chat) -> None:
    r = chat.text("close")
    assert texts(r) == [say("zh", "close_which_none")]
    assert r.state == "idle"


def test_close_when_the_order_was_closed_meanwhile(chat: Chat, orders: SqlWorkOrders, open_order: Order) -> None:
    chat.text(f"结单 {open_order.id}")
    orders.close(open_order.id, open_order.report_photo_key, True, "closed by ops", open_order.reporter)
    r = chat.image(pic(3))
    assert texts(r) == [say("zh", "close_race", order_id=open_order.id, status=say("zh", "status_closed"))]
    assert r.state == "idle"


def test_close_photo_that_is_not_an_image(chat: Chat, open_order: Order) -> None:
    chat.text(f"结单 {open_order.id}")
    r = chat.image(b"just some text, not a picture")
    assert texts(r) == [say("zh", "not_image")]
    assert r.state == "waiting_close_photo"


# ==========================================================================================================
# VLM failures while reporting
# ==========================================================================================================
def test_vlm_error_keeps_the_photo_and_retry_analyses_again(
    make_engine: Callable[..., Conversation], fake_store: SessionStore, storage: LocalFolderStore
) -> None:
    vlm = ScriptedVlm(analyses=[VlmError("HTTP 500"), Analysis("电气故障", "插座烧焦", "medium", 0.6)])
    chat = Chat(make_engine(vlm=vlm))
    r = chat.image(pic(1))
    assert r.state == "waiting_location"
    assert texts(r) == [say("zh", "vlm_failed"), say("zh", "ask_type", choices=CHOICES_ZH)]
    assert list(chat.buttons())[-2:] == [say("zh", "choice_retry"), say("zh", "choice_cancel")]
    pending = session_of(fake_store, chat).pending
    assert storage.get(pending["image_key"]) == pic(1)
    assert "alarm_type" not in pending

    r = chat.text("重试")
    assert r.state == "waiting_location"
    assert texts(r)[0] == say(
        "zh", "analysis", alarm_type="电气故障", severity=say("zh", "severity_medium"), description="插座烧焦"
    )
    assert session_of(fake_store, chat).pending["alarm_type"] == "电气故障"
    assert [c["photo"].data for c in vlm.analyze_calls] == [pic(1), pic(1)]


def test_vlm_error_then_pick_by_number(make_engine: Callable[..., Conversation], orders: SqlWorkOrders) -> None:
    chat = Chat(make_engine(vlm=ScriptedVlm(analyses=[VlmError("bad json")])))
    chat.image(pic(1))
    chat.text("4")
    chat.text("大门")
    oid = chat.text("确认").order_id
    assert orders.get(oid).alarm_type == "非法入侵"  # type: ignore[arg-type, union-attr]


def test_retry_without_a_photo(chat: Chat) -> None:
    assert texts(chat.text("重试")) == [say("zh", "welcome")]  # idle: a hint, not a crash


def test_vlm_history_is_passed_as_context(make_engine: Callable[..., Conversation]) -> None:
    vlm = ScriptedVlm()
    chat = Chat(make_engine(vlm=vlm))
    chat.text("你好")
    chat.image(pic(1))
    history = vlm.analyze_calls[0]["history"]
    assert [h["role"] for h in history] == ["user", "bot"] and history[0]["text"] == "你好"


# ==========================================================================================================
# Bad photos
# ==========================================================================================================
@pytest.mark.parametrize("state", ["idle", "waiting_location"])
@pytest.mark.parametrize(
    ("kind", "reply"),
    [
        ("text-bytes", "not_image"),
        ("oversized", "image_too_large"),
        ("edge-too-large", "image_too_large"),
        ("empty", "not_image"),
        ("edge-download-failed", "download_failed"),
    ],
)
def test_bad_photos_are_refused(
    make_engine: Callable[..., Conversation],
    settings: Settings,
    fake_store: SessionStore,
    state: str,
    kind: str,
    reply: str,
) -> None:
    small = settings.with_(max_image_bytes=len(pic(1)) + 100)
    chat = Chat(make_engine(settings=small))
    if state == "waiting_location":
        chat.image(pic(1))
    before = session_of(fake_store, chat)
    files_before = stored_files(settings.storage_dir)
    sends = {
        "text-bytes": lambda: chat.image(b"hello, I am plain text pretending to be a jpeg"),
        "oversized": lambda: chat.image(photo(5, size=(1200, 900), quality=95)),
        "edge-too-large": lambda: chat.image(b"", problem="too_large"),
        "empty": lambda: chat.image(b""),
        "edge-download-failed": lambda: chat.image(b"", problem="download_failed"),
    }
    r = sends[kind]()
    limit_mb = round(small.max_image_bytes / 1024 / 1024, 1)
    assert texts(r) == [say("zh", reply, limit_mb=limit_mb)]
    assert r.state == state
    assert stored_files(settings.storage_dir) == files_before
    after = session_of(fake_store, chat)
    assert (after.pending if after else {}) == (before.pending if before else {})


# ==========================================================================================================
# Expiry
# ==========================================================================================================
def test_expired_report_is_announced_and_starts_over(chat: Chat, fake_store: SessionStore, settings: Settings) -> None:
    chat.image(pic(1))
    fake_store.redis.delete(fake_store.session_redis_key(chat.key))  # what the TTL would do
    r = chat.text("配电房")
    minutes = settings.session_ttl_seconds // 60
    assert texts(r)[0] == say("zh", "timed_out", flow=say("zh", "flow_report"), minutes=minutes)
    assert r.state == "idle"
    assert session_of(fake_store, chat).pending == {}
    # announced once only
    r = chat.text("你好")
    assert say("zh", "timed_out", flow=say("zh", "flow_report"), minutes=minutes) not in texts(r)


def test_expired_close_is_announced(chat: Chat, fake_store: SessionStore, open_order: Order) -> None:
    chat.text(f"结单 {open_order.id}")
    fake_store.redis.delete(fake_store.session_redis_key(chat.key))
    r = chat.image(pic(3))
    assert texts(r)[0] == say("zh", "timed_out", flow=say("zh", "flow_close"), minutes=10)
    assert r.state == "idle"  # the photo is held: "a new report, or the fix for …?"
    assert open_order.id[-5:] in " ".join(chat.buttons())


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


def test_close_check_sends_each_photo_with_its_own_type(
    make_engine: Callable[..., Conversation],
) -> None:
    """A PNG report photo must reach the VLM labelled as PNG (a data URL with the wrong type is refused)."""
    vlm = ScriptedVlm()
    chat = Chat(make_engine(vlm=vlm))
    chat.image(photo(1, fmt="PNG"))
    chat.text("配电房")
    oid = chat.text("确认").order_id
    chat.text(f"结单 {oid}")
    chat.image(pic(3))
    call = vlm.verify_calls[0]
    assert call["before"].content_type == "image/png"
    assert call["after"].content_type == "image/jpeg"
    assert vlm.analyze_calls[0]["photo"].content_type == "image/png"
