"""The resolution SLA's queries (``bot.orders.sla``): the clocks of the orders being worked on, and the reminder
and escalations each recorded by one conditional ``UPDATE`` with its event (``order_outbox``) and, for an
escalation, its ``order_timeline`` row, all in one transaction: of two processes sweeping at once, one wins.

A mixin of :class:`bot.adapters.sql.orders.SqlWorkOrders`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, func, or_, select, update

from bot.adapters.sql.database import guarded
from bot.adapters.sql.outbox import stage_event
from bot.adapters.sql.tables import order_timeline, row_to_order, work_orders
from bot.orders.sla import WORKING_STAGES, SlaClock
from bot.ports import Order

_c = work_orders.c


def _working() -> list[Any]:
    """Open, claimed, and in a stage the clock runs in (NULL: claimed before stages existed)."""
    return [
        _c.status == "open",
        _c.assignee_user.is_not(None),
        _c.claimed_at.is_not(None),
        _c.on_hold_since.is_(None),
        or_(_c.stage.is_(None), _c.stage.in_(WORKING_STAGES)),
    ]


class SlaQueries:
    _engine: Engine

    def _ready(self) -> None:  # provided by SqlWorkOrders
        raise NotImplementedError

    def resolve_clocks(self, max_escalations: int, limit: int = 500) -> list[SlaClock]:
        self._ready()
        query = (
            select(work_orders)
            .where(*_working(), func.coalesce(_c.resolve_escalations, 0) < max_escalations)
            .order_by(_c.claimed_at)
            .limit(limit)
        )
        with guarded("looking for orders past their resolution time"), self._engine.connect() as conn:
            return [_clock(row) for row in conn.execute(query)]

    def mark_resolve_reminded(self, order_id: str, details: dict[str, object]) -> Order | None:
        self._ready()
        with guarded("reminding of an order"), self._engine.begin() as conn:
            won = conn.execute(
                update(work_orders)
                .where(_c.id == order_id, *_working(), _c.resolve_reminded_at.is_(None))
                .values(resolve_reminded_at=datetime.now(UTC))
            )
            if won.rowcount != 1:
                return None
            order = row_to_order(conn.execute(select(work_orders).where(_c.id == order_id)).one())
            stage_event(conn, "order.reminded", order, **details)
        return order

    def mark_resolve_escalated(self, order_id: str, seen: int, details: dict[str, object]) -> Order | None:
        self._ready()
        now = datetime.now(UTC)
        with guarded("escalating order"), self._engine.begin() as conn:
            won = conn.execute(
                update(work_orders)
                .where(_c.id == order_id, *_working(), func.coalesce(_c.resolve_escalations, 0) == seen)
                .values(resolve_escalations=seen + 1, resolve_escalated_at=now)
            )
            if won.rowcount != 1:
                return None
            row = conn.execute(select(work_orders).where(_c.id == order_id)).one()
            stage = row._mapping["stage"] or "claimed"
            conn.execute(
                order_timeline.insert().values(
                    order_id=order_id,
                    at=now,
                    kind="escalated",
                    from_status=stage,
                    to_status=stage,
                    reason="resolve_sla",
                    detail=details,
                )
            )
            order = row_to_order(row)
            stage_event(conn, "order.escalated", order, **details)
        return order


def _clock(row: Any) -> SlaClock:
    m = row._mapping
    return SlaClock(
        order=row_to_order(row),
        stage=m["stage"],
        on_hold_since=m["on_hold_since"],
        held_seconds=float(m["held_seconds"] or 0.0),
        reminded_at=m["resolve_reminded_at"],
        escalations=int(m["resolve_escalations"] or 0),
    )
