"""The work-order queries of the order's rules: claim, duplicate reports, escalation, export.

A mixin of :class:`bot.adapters.sql.orders.SqlWorkOrders`. As there, correctness across processes comes from
the database: a claim and an escalation are each one conditional ``UPDATE``, so of two technicians
tapping "Claim" at once, or two processes sweeping at once, exactly one wins.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, case, func, or_, select, update

from bot import paging
from bot.adapters.sql.database import guarded
from bot.adapters.sql.order_life import add_timeline
from bot.adapters.sql.outbox import stage_event
from bot.adapters.sql.tables import person_columns, row_to_order, tenant_clauses, work_orders
from bot.orders.events import person
from bot.orders.ids import normalize_order_id
from bot.orders.life import WORKING
from bot.orders.sla import NEW_CLOCK
from bot.ports import ORDER_STATUSES, Order, OrderError, OrderNotFound, Reporter, Tenant

_EXPORT_BATCH = 500  # rows fetched from the server at a time while an export streams
RATE_WITHIN = timedelta(days=7)  # a closed order is offered for "评分 5" (no order named) this long


def waiting() -> list[Any]:
    """The WHERE of an order whose life is ``open`` (nobody's yet): open, no assignee, and no stage (NULL: never
    claimed, or unclaimed again). A resolved order may have no assignee (resolved from open by ops, or by the duty
    chat with ``CLOSE_POLICY=anyone``): its stage keeps it out of the claim and the unclaimed sweep."""
    c = work_orders.c
    return [c.status == "open", c.assignee_user.is_(None), or_(c.stage.is_(None), c.stage == "open")]


class OrderQueries:
    _engine: Engine

    def _ready(self) -> None:  # provided by SqlWorkOrders
        raise NotImplementedError

    def _known_id(self, order_id: str) -> str:
        """The stored form of an id a person typed (OrderNotFound if it cannot be one); tables ready."""
        oid = normalize_order_id(order_id)
        if oid is None:
            raise OrderNotFound(f"order {order_id!r} not found")
        self._ready()
        return oid

    def movable_by(self, who: Reporter, limit: int = 50) -> list[Order]:
        c = work_orders.c
        self._ready()
        reported = c.reporter_user == who.user  # with the tenant's clauses: reported by ``who``
        held = and_(c.assignee_platform == who.platform, c.assignee_tenant == who.tenant, c.assignee_user == who.user)
        recently = datetime.now(UTC) - RATE_WITHIN
        query = (
            select(work_orders)
            .where(
                *tenant_clauses(who.home),
                or_(
                    and_(c.status == "open", or_(reported, c.assignee_user.is_not(None))),
                    and_(c.status == "closed", reported, c.rating.is_(None), c.closed_at >= recently),
                ),
            )
            .order_by(case((or_(reported, held), 0), else_=1), c.created_at.desc(), c.id.desc())
            .limit(paging.clamp(limit))
        )
        with guarded("listing orders"), self._engine.connect() as conn:
            return [row_to_order(row) for row in conn.execute(query)]

    def claim(self, order_id: str, by: Reporter) -> tuple[Order, bool]:
        oid = self._known_id(order_id)
        c = work_orders.c
        where = [c.id == oid, *tenant_clauses(by.home)]
        now = datetime.now(UTC)
        with guarded("claiming order"), self._engine.begin() as conn:
            won = conn.execute(
                update(work_orders)
                .where(*where, *waiting())
                .values(claimed_at=now, stage="claimed", **NEW_CLOCK, **person_columns("assignee", by))
            )
            if won.rowcount == 1:
                claimed = {"kind": "claimed", "from_status": "open", "to_status": "claimed"}
                add_timeline(conn, oid, now, {**claimed, **person_columns("actor", by)})
            row = conn.execute(select(work_orders).where(*where)).first()
            if row is not None and won.rowcount == 1:
                stage_event(conn, "order.claimed", row_to_order(row), by=person(by))
        if row is None:
            raise OrderNotFound(f"order {order_id!r} not found")
        order = row_to_order(row)
        if won.rowcount != 1 and order.life not in WORKING:  # resolved, closed or cancelled: nothing to claim
            raise OrderError(f"not open: {order.life}")
        return order, won.rowcount == 1

    def add_report(self, order_id: str, by: Reporter, photo_keys: Sequence[str]) -> Order:
        oid = self._known_id(order_id)
        c = work_orders.c
        where = [c.id == oid, *tenant_clauses(by.home)]
        with guarded("adding a report to an order"), self._engine.begin() as conn:
            # FOR UPDATE (PostgreSQL; SQLite serialises writers anyway): two "Same" taps at once both count.
            row = conn.execute(select(work_orders).where(*where).with_for_update()).first()
            if row is None:
                raise OrderNotFound(f"order {order_id!r} not found")
            order = row_to_order(row)
            if order.status != "open":
                raise OrderError(f"not open: {order.status}")
            reporters = [[r.platform, r.tenant, r.user] for r in order.more_reporters]
            if by not in order.reporters:
                reporters.append([by.platform, by.tenant, by.user])
            photos = [*order.more_photo_keys, *(k for k in photo_keys if k not in order.photo_keys)]
            conn.execute(
                update(work_orders).where(c.id == oid).values(more_reporters=reporters, more_photo_keys=photos)
            )
            row = conn.execute(select(work_orders).where(c.id == oid)).first()
            assert row is not None
            joined = row_to_order(row)
            stage_event(conn, "order.duplicate_reported", joined, by=person(by), photos=len(photo_keys))
        return joined

    def open_like(self, home: Tenant, alarm_type: str, limit: int = 50) -> list[Order]:
        self._ready()
        c = work_orders.c
        query = (
            select(work_orders)
            .where(*tenant_clauses(home), c.status == "open", c.alarm_type == alarm_type)
            .order_by(c.created_at.desc(), c.id.desc())
            .limit(limit)
        )
        with guarded("looking for the same problem"), self._engine.connect() as conn:
            return [row_to_order(row) for row in conn.execute(query)]

    def overdue(self, older_than: datetime, max_escalations: int) -> list[Order]:
        self._ready()
        c = work_orders.c
        last_posted = func.coalesce(c.escalated_at, c.created_at)
        query = (
            select(work_orders)
            .where(
                *waiting(),
                func.coalesce(c.escalations, 0) < max_escalations,
                last_posted <= older_than,
            )
            .order_by(c.created_at)
            .limit(500)
        )
        with guarded("looking for overdue orders"), self._engine.connect() as conn:
            return [row_to_order(row) for row in conn.execute(query)]

    def mark_escalated(self, order_id: str, seen: int) -> Order | None:
        self._ready()
        c = work_orders.c
        with guarded("escalating order"), self._engine.begin() as conn:
            won = conn.execute(
                update(work_orders)
                .where(
                    c.id == order_id,
                    *waiting(),
                    func.coalesce(c.escalations, 0) == seen,
                )
                .values(escalations=seen + 1, escalated_at=datetime.now(UTC))
            )
            if won.rowcount != 1:
                return None
            row = conn.execute(select(work_orders).where(c.id == order_id)).first()
            if row is None:
                return None
            order = row_to_order(row)
            stage_event(conn, "order.escalated", order, count=order.escalations)
        return order

    def export(
        self,
        status: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        tenant: str | None = None,
        site: str | None = None,
        zone: str | None = None,
    ) -> Iterator[Order]:
        """Raises ValueError for an unknown status (before the first row, so an API can answer 400)."""
        if status and status not in ORDER_STATUSES:
            raise ValueError(f"unknown status {status!r}")
        self._ready()
        c = work_orders.c
        clauses: list[Any] = [c.reporter_tenant == tenant] if tenant else []
        if status:
            clauses.append(c.status == status)
        if since is not None:
            clauses.append(c.created_at >= since)
        if until is not None:
            clauses.append(c.created_at < until)
        if site:
            clauses.append(c.site_id == site)
        if zone:
            clauses.append(c.zone == zone)
        query = select(work_orders).where(*clauses).order_by(c.created_at, c.id)
        return self._stream(query)

    def _stream(self, query: Any) -> Iterator[Order]:
        with guarded("exporting orders"), self._engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=_EXPORT_BATCH).execute(query)
            for row in result:
                yield row_to_order(row)
