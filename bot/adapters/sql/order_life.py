"""The order's life in SQL: each move of ``bot.orders.life`` as one conditional ``UPDATE`` and its timeline row.

A mixin of :class:`bot.adapters.sql.orders.SqlWorkOrders`. A move reads the order, asks the rule's guard, and
writes with a ``WHERE`` that repeats what it read (status, stage, assignee): of two people moving one order at
once, the second finds the row changed, reads it again and is asked again (so a second "Start" is refused as
"not from there", never applied twice). The timeline row and the event go in the same transaction as the change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, select, update

from bot.adapters.sql.database import guarded
from bot.adapters.sql.outbox import stage_event
from bot.adapters.sql.tables import order_timeline, row_to_order, work_orders
from bot.orders import life
from bot.orders.ids import normalize_order_id
from bot.ports import Order, OrderMoved, OrderNotFound, Reporter

_ATTEMPTS = 5


def add_timeline(conn: Connection, order_id: str, at: datetime, row: Mapping[str, Any]) -> None:
    conn.execute(order_timeline.insert().values(order_id=order_id, at=at, **row))


def _same_as_read(order: Order) -> list[Any]:
    """The WHERE that holds only while the row is as ``order`` was read."""
    c = work_orders.c
    stage = c.stage.is_(None) if order.stage is None else c.stage == order.stage
    who = c.assignee_user.is_(None) if order.assignee is None else c.assignee_user == order.assignee.user
    return [c.id == order.id, c.status == order.status, stage, who]


class OrderLife:
    _engine: Engine

    def _known_id(self, order_id: str) -> str:  # provided by OrderQueries
        raise NotImplementedError

    def _ready(self) -> None:  # provided by SqlWorkOrders
        raise NotImplementedError

    def move(
        self, order_id: str, action: str, by: Reporter | None, guard: Callable[[Order], str], params: Mapping[str, Any]
    ) -> Order:
        oid = self._known_id(order_id)
        for _ in range(_ATTEMPTS):
            with guarded(f"moving order ({action})"), self._engine.begin() as conn:
                row = conn.execute(select(work_orders).where(work_orders.c.id == oid)).first()
                if row is None:
                    raise OrderNotFound(f"order {order_id!r} not found")
                order = row_to_order(row)
                problem = guard(order)
                if problem:
                    raise OrderMoved(order, problem)
                now = datetime.now(UTC)
                changes = life.columns(action, order, by, now, params)
                if changes:
                    won = conn.execute(update(work_orders).where(*_same_as_read(order)).values(**changes))
                    if won.rowcount != 1:
                        continue  # moved by someone else since the read: read it again, ask the guard again
                add_timeline(conn, oid, now, life.timeline_row(action, order, by, params))
                after = conn.execute(select(work_orders).where(work_orders.c.id == oid)).first()
                assert after is not None
                moved = row_to_order(after)
                event = life.TABLE[action].event
                if event is not None:  # sent if and only if the move commits
                    stage_event(conn, event, moved, **life.event_details(action, by, params))
            return moved
        raise OrderMoved(order, "state")

    def timeline(self, order_id: str) -> list[dict[str, Any]]:
        oid = normalize_order_id(order_id)
        if oid is None:
            return []
        self._known_id(oid)
        t = order_timeline.c
        query = select(order_timeline).where(t.order_id == oid).order_by(t.at, t.id)
        with guarded("reading the order's timeline"), self._engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def resolved_before(self, moment: datetime, limit: int = 100) -> list[Order]:
        self._ready()
        c = work_orders.c
        query = (
            select(work_orders)
            .where(c.status == "open", c.stage == "resolved", c.resolved_at <= moment)
            .order_by(c.resolved_at)
            .limit(limit)
        )
        with guarded("looking for resolved orders"), self._engine.connect() as conn:
            return [row_to_order(row) for row in conn.execute(query)]
