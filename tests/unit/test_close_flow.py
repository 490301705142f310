"""The close flow on fakes: closing by id or by the only open order, the VLM's verdict on the fix photo, and
every way a close is refused (unknown, not open, the report photo again, not an image).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bot.adapters.redis.store import SessionStore
from bot.adapters.sql.orders import SqlWorkOrders
from bot.adapters.storage import LocalFolderStore
from bot.dialogue.engine import Conversation
from bot.ports import Order, Verdict, VlmError
from bot.replies import say
from tests.support.conversation import (
    UNKNOWN_ORDER,
    ScriptedVlm,
    enter,
    joined,
    pic,
    reencode,
    report,
    session_of,
    texts,
)
from tests.support.engine import Chat, photo


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
