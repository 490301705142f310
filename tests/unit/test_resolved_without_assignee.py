"""An order resolved straight from open (by ops, or by the duty chat with ``CLOSE_POLICY=anyone``) has no assignee:
the claim, the unclaimed sweep and the reporter's withdraw must read its life (resolved), not the empty assignee."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.adapters.sql.orders import SqlWorkOrders
from bot.config import Settings
from bot.orders import moves, rules
from bot.ports import NewOrder, Order, OrderError, Reporter
from bot.replies import say
from tests.support.conversation import texts
from tests.support.engine import Chat

REPORTER = Reporter("test", "t1", "u1")  # the chat fixture's user
TECH = Reporter("test", "t1", "tech")
OPS = Reporter("ops", "", "admin")


def _resolved_from_open(orders: SqlWorkOrders, settings: Settings, key: str = "r1") -> Order:
    new = NewOrder(key, REPORTER, "漏水", "leak", "high", "1号楼", None, None, "photo", None, [])
    order = orders.create(new)[0]
    outcome = moves.act(orders, settings, "resolve", order.id, OPS, ops=True, photo_key="fix")
    assert outcome.done and outcome.order is not None
    assert outcome.order.life == "resolved" and outcome.order.assignee is None
    return outcome.order


def test_a_resolved_order_without_an_assignee_cannot_be_claimed(orders: SqlWorkOrders, settings: Settings) -> None:
    order = _resolved_from_open(orders, settings)
    with pytest.raises(OrderError):
        orders.claim(order.id, TECH)
    outcome = rules.claim(orders, Any, order.id, TECH)  # type: ignore[arg-type]  # events are not used
    assert not outcome.won and outcome.problem == "not_open"
    assert rules.claim_reply("en", outcome, order.id) == say(
        "en", "claim_not_open", order_id=order.id, status=say("en", "life_resolved")
    )
    after = orders.get(order.id)
    assert after is not None and after.life == "resolved" and after.assignee is None and after.claimed_at is None


def test_the_unclaimed_sweep_leaves_a_resolved_order_alone(orders: SqlWorkOrders, settings: Settings) -> None:
    order = _resolved_from_open(orders, settings)
    later = datetime.now(UTC) + timedelta(days=3)
    assert orders.overdue(later, settings.max_escalations) == []
    assert orders.mark_escalated(order.id, 0) is None
    assert rules.sweep(orders, Any, settings, later) == 0  # type: ignore[arg-type]
    still = orders.get(order.id)
    assert still is not None and still.life == "resolved" and still.escalations == 0


def test_an_open_order_is_still_claimed_and_swept(orders: SqlWorkOrders, settings: Settings) -> None:
    new = NewOrder("r2", REPORTER, "漏水", "leak", "high", "1号楼", None, None, "photo", None, [])
    order = orders.create(new)[0]
    later = datetime.now(UTC) + timedelta(days=3)
    assert [o.id for o in orders.overdue(later, settings.max_escalations)] == [order.id]
    escalated = orders.mark_escalated(order.id, 0)
    assert escalated is not None and escalated.escalations == 1
    claimed, won = orders.claim(order.id, TECH)
    assert won and claimed.life == "claimed" and claimed.assignee == TECH


def test_the_reporter_cannot_withdraw_a_resolved_order(chat: Chat, orders: SqlWorkOrders, settings: Settings) -> None:
    order = _resolved_from_open(orders, settings)
    said = texts(chat.text(f"取消工单 {order.id}"))
    assert said == [say("zh", "withdraw_not_open", order_id=order.id, status=say("zh", "life_resolved"))]
    after = orders.get(order.id)
    assert after is not None and after.status == "open" and after.life == "resolved"


def test_the_reporter_still_withdraws_a_claimed_order(chat: Chat, orders: SqlWorkOrders) -> None:
    new = NewOrder("r3", REPORTER, "漏水", "leak", "high", "1号楼", None, None, "photo", None, [])
    order = orders.create(new)[0]
    orders.claim(order.id, TECH)
    assert texts(chat.text(f"取消工单 {order.id}")) == [say("zh", "withdrawn", order_id=order.id)]
    after = orders.get(order.id)
    assert after is not None and after.status == "cancelled" and after.cancelled_by == REPORTER
    assert orders.timeline(order.id)[-1]["kind"] == "cancelled"
