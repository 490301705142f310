"""A new assignee gets a new resolution clock: a hand-over, a take-over, an unclaim and a claim again each clear
the reminder and the escalations of the one before, so the 80 % reminder goes out again and the next escalation
comes at 100 % of the new clock (not at 200 %). On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.adapters.sql.orders import SqlWorkOrders
from bot.adapters.sql.tables import work_orders
from bot.config import Settings
from bot.orders import moves
from bot.orders.sla import sweep_resolution
from bot.ports import Reporter
from tests.integration import test_resolve_sla as sla_tests

pytestmark = pytest.mark.integration

orders = sla_tests.orders
schema = sla_tests.schema
HOUR = timedelta(hours=1)
MATE = Reporter("slack", "T1", "mate")
SETTINGS = Settings(resolve_sla_hours="high:4", max_escalations=3)


def clock_columns(orders: SqlWorkOrders, order_id: str) -> tuple[object, object, object]:
    c = work_orders.c
    query = select(c.resolve_reminded_at, c.resolve_escalations, c.resolve_escalated_at).where(c.id == order_id)
    with orders.engine.connect() as conn:
        row = conn.execute(query).one()
    return row[0], row[1], row[2]


def reminded_and_escalated(orders: SqlWorkOrders, order_id: str, at: datetime) -> None:
    """The first assignee let it run to 100 %: reminded, then escalated once."""
    sla_tests.set_columns(orders, order_id, claimed_at=at - 4.1 * HOUR)
    assert sweep_resolution(orders, SETTINGS, at - 0.8 * HOUR) == 1  # 80 %: reminded
    assert sweep_resolution(orders, SETTINGS, at) == 1  # 102 %: escalated
    reminded, escalations, escalated_at = clock_columns(orders, order_id)
    assert reminded is not None and escalations == 1 and escalated_at is not None


@pytest.mark.parametrize("action", ["hand_over", "take_over", "unclaim_and_claim"])
def test_a_new_assignee_starts_a_new_clock(orders: SqlWorkOrders, action: str) -> None:
    t0 = datetime.now(UTC)
    oid = sla_tests.claimed(orders, f"k-{action}", t0, stage="in_progress", started_at=t0)
    reminded_and_escalated(orders, oid, t0)
    if action == "hand_over":
        done = moves.act(orders, SETTINGS, "hand_over", oid, sla_tests.TECH, to=MATE)
    elif action == "take_over":
        done = moves.act(orders, SETTINGS, "take_over", oid, MATE)
    else:
        assert moves.act(orders, SETTINGS, "unclaim", oid, sla_tests.TECH).done
        assert clock_columns(orders, oid) == (None, None, None)
        done = moves.act(orders, SETTINGS, "claim", oid, MATE)
    assert done.done and done.order is not None and done.order.assignee == MATE
    assert clock_columns(orders, oid) == (None, None, None)
    claimed_at = done.order.claimed_at
    assert claimed_at is not None
    assert sweep_resolution(orders, SETTINGS, claimed_at + 3.3 * HOUR) == 1  # 82 % of the new clock: reminded
    assert clock_columns(orders, oid)[0] is not None
    assert sweep_resolution(orders, SETTINGS, claimed_at + 4.1 * HOUR) == 1  # 102 %: escalated, not at 200 %
    assert clock_columns(orders, oid)[1] == 1


def test_a_claim_after_an_unclaim_through_the_repository_starts_a_new_clock(orders: SqlWorkOrders) -> None:
    t0 = datetime.now(UTC)
    oid = sla_tests.claimed(orders, "k-repo", t0, stage="claimed")
    reminded_and_escalated(orders, oid, t0)
    sla_tests.set_columns(orders, oid, stage=None, assignee_platform=None, assignee_tenant=None, assignee_user=None)
    _, won = orders.claim(oid, MATE)  # the duty card's Claim button
    assert won and clock_columns(orders, oid) == (None, None, None)
