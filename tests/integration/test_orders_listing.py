"""Listing work orders on both databases (as ``test_orders``): a user's open orders, pages that cover everything
once newest first, filters, the limit's clamp, and cursors that cannot be forged.
"""

from __future__ import annotations

import base64

import pytest

from bot.adapters.sql.orders import SqlWorkOrders, decode_cursor, encode_cursor
from bot.ports import Reporter
from tests.integration.test_orders import ALICE, BOB, CAROL, new_order, orders, schema  # noqa: F401 - fixtures

pytestmark = pytest.mark.integration


def test_open_for_lists_only_that_users_open_orders_newest_first(orders: SqlWorkOrders) -> None:
    a1, _ = orders.create(new_order("a1"))
    a2, _ = orders.create(new_order("a2"))
    a3, _ = orders.create(new_order("a3"))
    orders.create(new_order("b1", reporter=BOB))
    orders.close(a2.id, "img/after.jpg", True, "fixed", CAROL)

    assert [o.id for o in orders.open_for(ALICE)] == [a3.id, a1.id]
    assert [o.id for o in orders.open_for(ALICE, limit=1)] == [a3.id]
    assert [o.reporter for o in orders.open_for(BOB)] == [BOB]
    assert orders.open_for(Reporter("slack", "T2", "alice")) == []


def test_movable_by_lists_the_users_own_orders_first_then_colleagues_held_ones(orders: SqlWorkOrders) -> None:
    """What "开始" or "评分 5" without an order may mean: ALICE's reported or held orders first (newest first), then
    the tenant's orders someone holds; her closed ones without a rating; nobody's unclaimed order of a colleague."""
    mine, _ = orders.create(new_order("a1"))
    held_by_carol, _ = orders.create(new_order("c1", reporter=CAROL))
    orders.claim(held_by_carol.id, CAROL)
    held_by_me, _ = orders.create(new_order("c2", reporter=CAROL))
    orders.claim(held_by_me.id, ALICE)
    orders.create(new_order("c3", reporter=CAROL))  # open, unclaimed, not hers: not offered
    closed, _ = orders.create(new_order("a2"))
    orders.close(closed.id, "img/after.jpg", True, "fixed", ALICE)
    orders.create(new_order("b1", reporter=BOB))  # another tenant

    assert [o.id for o in orders.movable_by(ALICE)] == [closed.id, held_by_me.id, mine.id, held_by_carol.id]
    assert orders.movable_by(Reporter("slack", "T2", "alice")) == []


def test_list_pages_cover_everything_once_newest_first(orders: SqlWorkOrders) -> None:
    made = [orders.create(new_order(f"rk-{i}"))[0] for i in range(7)]
    expected = sorted(made, key=lambda o: (o.created_at, o.id), reverse=True)

    seen = []
    cursor = None
    pages = 0
    while True:
        page, cursor = orders.list(cursor=cursor, limit=3)
        pages += 1
        assert len(page) <= 3
        seen.extend(page)
        if cursor is None:
            break
    assert pages == 3
    assert [o.id for o in seen] == [o.id for o in expected]


def test_list_filters_by_status_and_text(orders: SqlWorkOrders) -> None:
    leak, _ = orders.create(new_order("rk-1", description="Water leak in pump room"))
    fire, _ = orders.create(new_order("rk-2", description="smoke near 100%_exit", location_text="Gate B"))
    bob, _ = orders.create(new_order("rk-3", reporter=BOB, description="broken light"))
    orders.close(leak.id, "img/after.jpg", True, "fixed", CAROL)

    assert [o.id for o in orders.list(status="closed")[0]] == [leak.id]
    assert {o.id for o in orders.list(status="open")[0]} == {fire.id, bob.id}
    assert [o.id for o in orders.list(q="PUMP ROOM")[0]] == [leak.id]
    assert [o.id for o in orders.list(q="gate b")[0]] == [fire.id]
    assert [o.id for o in orders.list(q="BoB")[0]] == [bob.id]
    assert [o.id for o in orders.list(q=bob.id[-5:].lower())[0]] == [bob.id]
    assert [o.id for o in orders.list(q="100%_")[0]] == [fire.id]
    assert [o.id for o in orders.list(q="%")[0]] == [fire.id]  # literal characters, not wildcards
    assert orders.list(q="0%x")[0] == []
    assert orders.list(q="p_mp")[0] == []
    assert orders.list(status="open", q="pump")[0] == []
    with pytest.raises(ValueError, match="status"):
        orders.list(status="archived")


def test_list_clamps_the_limit(orders: SqlWorkOrders) -> None:
    for i in range(3):
        orders.create(new_order(f"rk-{i}"))
    page, cursor = orders.list(limit=0)
    assert len(page) == 1 and cursor is not None
    page, cursor = orders.list(limit=10_000)
    assert len(page) == 3 and cursor is None


NAIVE_TIME_CURSOR = base64.urlsafe_b64encode(b'{"t":"2026-11-21T08:00:00","id":"WO-20261121-ABCDE"}').decode()


@pytest.mark.parametrize("cursor", ["garbage!", "e30", "bm90IGpzb24", "W10", NAIVE_TIME_CURSOR])
def test_list_rejects_cursors_it_did_not_make(orders: SqlWorkOrders, cursor: str) -> None:
    with pytest.raises(ValueError, match="cursor"):
        orders.list(cursor=cursor)


def test_cursor_round_trips(orders: SqlWorkOrders) -> None:
    order, _ = orders.create(new_order("rk-1"))
    assert decode_cursor(encode_cursor(order.created_at, order.id)) == (order.created_at, order.id)
