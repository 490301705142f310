"""What the repository wrote into ``order_outbox`` (the transactional outbox), for tests that check events."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.adapters.sql.orders import SqlWorkOrders
from bot.adapters.sql.outbox import order_outbox


def staged(orders: SqlWorkOrders, order_id: str | None = None) -> list[dict[str, Any]]:
    """Every event written so far (sent or not), oldest first; only ``order_id``'s when given."""
    query = select(order_outbox.c.event).order_by(order_outbox.c.id)
    if order_id is not None:
        query = query.where(order_outbox.c.order_id == order_id)
    with orders.engine.connect() as conn:
        return [row.event for row in conn.execute(query)]


def kinds(orders: SqlWorkOrders, order_id: str | None = None) -> list[tuple[str, str]]:
    """(type, order id) of every event written so far, oldest first."""
    return [(e["type"], e["order"]["id"]) for e in staged(orders, order_id)]
