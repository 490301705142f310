"""The facts reports are computed from, read from the order table and its timeline (``bot.reports``).

Plain selects of stored values, no dialect-specific SQL: the figures themselves are computed in
``bot.reports.compute``, so SQLite and PostgreSQL give the same report from the same rows.
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import Engine, and_, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from bot.adapters.sql.database import guarded
from bot.adapters.sql.tables import ensure_schema, order_timeline, work_orders
from bot.reports.figures import Filters, OrderFacts, Period

_BATCH = 2000
_REPORT_INDEXES = (
    "ix_work_orders_created",
    "ix_work_orders_claimed",
    "ix_work_orders_resolved",
    "ix_work_orders_closed",
)


def filter_clauses(filters: Filters) -> list[ColumnElement[bool]]:
    c = work_orders.c
    wanted: list[ColumnElement[bool]] = []
    if filters.tenant:
        wanted.append(c.reporter_tenant == filters.tenant)
    if filters.platform:
        wanted.append(c.reporter_platform == filters.platform)
    if filters.site:
        wanted.append(or_(c.site_id == filters.site, c.site_name == filters.site))
    if filters.zone:
        wanted.append(c.zone == filters.zone)
    if filters.type:
        wanted.append(c.alarm_type == filters.type)
    if filters.severity:
        wanted.append(c.severity == filters.severity)
    if filters.assignee:
        wanted.append(c.assignee_user == filters.assignee)
    return wanted


class SqlReportFacts:
    """``bot.reports.service.ReportFacts`` over the engine of the order repository."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._ready = False
        self._lock = threading.Lock()

    def _prepare(self) -> None:
        """The tables, and the report indexes on a database made before they existed (once per process)."""
        if self._ready:
            return
        with self._lock, guarded("preparing report indexes"):
            if not self._ready:
                ensure_schema(self._engine)
                with self._engine.begin() as conn:
                    for index in work_orders.indexes:
                        if index.name in _REPORT_INDEXES:
                            index.create(conn, checkfirst=True)
                self._ready = True

    def facts(self, period: Period, filters: Filters) -> list[OrderFacts]:
        self._prepare()
        c = work_orders.c
        start, end = period.start, period.end

        def within(column: Any) -> ColumnElement[bool]:
            return and_(column >= start, column < end)

        refused = (
            select(order_timeline.c.order_id, func.count().label("refused"))
            .where(order_timeline.c.kind == "fix_rejected")
            .group_by(order_timeline.c.order_id)
            .subquery()
        )
        query = (
            select(
                c.id,
                c.status,
                c.stage,
                c.severity,
                c.alarm_type,
                c.reporter_platform,
                c.reporter_tenant,
                func.coalesce(c.site_name, c.site_id, ""),
                func.coalesce(c.zone, ""),
                func.coalesce(c.assignee_user, ""),
                c.created_at,
                c.claimed_at,
                c.resolved_at,
                c.closed_at,
                func.coalesce(c.held_seconds, 0.0),
                c.on_hold_since,
                func.coalesce(c.reopen_count, 0),
                func.coalesce(c.auto_confirmed, False),
                c.vlm_resolved,
                func.coalesce(refused.c.refused, 0),
            )
            .outerjoin(refused, refused.c.order_id == c.id)
            .where(
                or_(
                    within(c.created_at),
                    within(c.claimed_at),
                    within(c.resolved_at),
                    within(c.closed_at),
                    c.status == "open",
                ),
                *filter_clauses(filters),
            )
        )
        with guarded("reading report facts"), self._engine.connect() as conn:
            result = conn.execution_options(yield_per=_BATCH).execute(query)
            return [
                OrderFacts(
                    id=r[0],
                    status=r[1],
                    stage=r[2],
                    severity=r[3],
                    alarm_type=r[4],
                    platform=r[5],
                    tenant=r[6],
                    site=r[7],
                    zone=r[8],
                    assignee=r[9],
                    created_at=r[10],
                    claimed_at=r[11],
                    resolved_at=r[12],
                    closed_at=r[13],
                    held_seconds=float(r[14]),
                    on_hold_since=r[15],
                    reopen_count=int(r[16]),
                    auto_confirmed=bool(r[17]),
                    vlm_resolved=r[18],
                    refused_fixes=int(r[19]),
                )
                for r in result
            ]

    def refused(self, period: Period, filters: Filters) -> int:
        self._prepare()
        t = order_timeline.c
        query = (
            select(func.count())
            .select_from(order_timeline)
            .where(t.kind == "fix_rejected", t.at >= period.start, t.at < period.end)
        )
        wanted = filter_clauses(filters)
        if wanted:
            query = query.join(work_orders, work_orders.c.id == t.order_id).where(*wanted)
        with guarded("counting refused fixes"), self._engine.connect() as conn:
            return int(conn.execute(query).scalar_one())
