"""The report flow on fakes (fakeredis sessions, a local photo folder, SQLite orders, a scripted VLM): a whole
report with and without the VLM, alarm links, corrections before confirming, and one order however often
"confirm" arrives. Tests assert what the user sees (``bot.replies.say``), the session's state and the order rows.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from zoneinfo import ZoneInfo

import pytest

from bot.adapters.redis.store import SessionStore
from bot.adapters.sql.orders import SqlWorkOrders
from bot.adapters.storage import LocalFolderStore
from bot.config import Settings
from bot.dialogue.engine import Conversation
from bot.messages import TurnResult
from bot.ports import Reporter
from bot.replies import say
from tests.support.conversation import (
    CHOICES_EN,
    CHOICES_ZH,
    ZH_TYPES,
    ScriptedVlm,
    created,
    joined,
    pic,
    report,
    session_of,
    stored_files,
    texts,
)
from tests.support.engine import Chat


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


# ==========================================================================================================
# Corrections in waiting_confirm
# ==========================================================================================================
def test_corrections_in_waiting_confirm(chat: Chat, fake_store: SessionStore, orders: SqlWorkOrders) -> None:
    chat.image(pic(1))
    chat.text("1")
    chat.location("旧位置", 30.0, 120.0)

    r = chat.text("4号楼屋顶东侧")  # a text at the summary is asked about, never taken silently
    assert texts(r) == [say("zh", "place_check_change", place="4号楼屋顶东侧", current="旧位置 (30.000000,120.000000)")]
    r = chat.tap(say("zh", "choice_change_place"))
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
