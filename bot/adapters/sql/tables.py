"""The ``work_orders`` table: the schema the repository in ``bot.adapters.sql.orders`` writes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    Double,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    inspect,
    text,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Row
from sqlalchemy.types import TypeDecorator

from bot.ports import Order, Reporter, Tenant


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, whatever the backend keeps.

    SQLite has no time zones, so it stores naive UTC (which also sorts correctly
    as text); PostgreSQL stores ``timestamptz``. Either way callers get aware UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: work-order times must be timezone-aware")
        value = value.astimezone(UTC)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

work_orders = Table(
    "work_orders",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("report_key", Text, nullable=False, unique=True),  # idempotency key of the confirmation
    Column("status", String(16), nullable=False),
    Column("alarm_type", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("severity", String(32), nullable=False),
    Column("location_text", Text, nullable=False),
    Column("latitude", Double, nullable=True),
    Column("longitude", Double, nullable=True),
    Column("report_photo_key", Text, nullable=False),
    Column("close_photo_key", Text, nullable=True),
    Column("more_photo_keys", JSON, nullable=True),  # a report's photos after the first
    Column("vlm_resolved", Boolean, nullable=True),
    Column("vlm_reason", Text, nullable=True),
    Column("cancel_reason", Text, nullable=True),
    Column("closed_by_platform", Text, nullable=True),
    Column("closed_by_tenant", Text, nullable=True),
    Column("closed_by_user", Text, nullable=True),
    Column("cancelled_by_platform", Text, nullable=True),
    Column("cancelled_by_tenant", Text, nullable=True),
    Column("cancelled_by_user", Text, nullable=True),
    Column("reporter_platform", Text, nullable=False),
    Column("reporter_tenant", Text, nullable=False),
    Column("reporter_user", Text, nullable=False),
    Column("alarm_id", Text, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("closed_at", UtcDateTime, nullable=True),
    Column("history", JSON, nullable=False),
    # the order's life: who claimed it, how often it was posted again as overdue, who else reported it
    Column("assignee_platform", Text, nullable=True),
    Column("assignee_tenant", Text, nullable=True),
    Column("assignee_user", Text, nullable=True),
    Column("claimed_at", UtcDateTime, nullable=True),
    Column("escalations", Integer, nullable=True),
    Column("escalated_at", UtcDateTime, nullable=True),
    Column("more_reporters", JSON, nullable=True),
    Column("photo_hash", String(16), nullable=True),  # [[platform, tenant, user], …] of duplicate reports
    Column("note", Text, nullable=True),  # the reporter's own words (a voice note's that were no place or command)
    Column("voice_keys", JSON, nullable=True),  # the report's voice notes in storage
    # where: the registry site the place landed on (sites), and how it got there
    Column("site_id", Text, nullable=True),
    Column("site_name", Text, nullable=True),
    Column("zone", Text, nullable=True),
    Column("place_source", String(16), nullable=True),  # typed | matched | qr | snapped | shared
    Column("coord_datum", String(8), nullable=True),  # wgs84 | gcj02: the datum the coordinates came in
    # the order's life after the claim. ``status`` stays open/closed/cancelled (old databases carry a CHECK
    # on it that SQLite cannot drop); ``stage`` says where an open order is: NULL (unclaimed, or claimed
    # before stages existed: read with the assignee), claimed, in_progress, on_hold, resolved.
    Column("stage", String(16), nullable=True),
    Column("started_at", UtcDateTime, nullable=True),
    Column("hold_reason", Text, nullable=True),
    Column("on_hold_since", UtcDateTime, nullable=True),
    Column("held_seconds", Double, nullable=True),  # on-hold time so far (the SLA clock stops while held)
    Column("resolved_at", UtcDateTime, nullable=True),
    Column("auto_confirmed", Boolean, nullable=True),
    Column("reopen_count", Integer, nullable=True),
    Column("rating", Integer, nullable=True),
    Column("resolve_escalations", Integer, nullable=True),
    Column("resolve_escalated_at", UtcDateTime, nullable=True),
    CheckConstraint("status IN ('open', 'closed', 'cancelled')", name="ck_work_orders_status"),
    Index("ix_work_orders_status_created", "status", "created_at"),
    Index("ix_work_orders_reporter", "reporter_platform", "reporter_tenant", "reporter_user"),
    # reports read the orders claimed, resolved or closed in a period (created: ix_work_orders_status_created
    # does not serve a range over all statuses)
    Index("ix_work_orders_created", "created_at"),
    Index("ix_work_orders_claimed", "claimed_at"),
    Index("ix_work_orders_resolved", "resolved_at"),
    Index("ix_work_orders_closed", "closed_at"),
)

# Every move of an order, one row each: who, when, from, to, why. Reports count from it.
# ``kind``: created, claimed, started, on_hold, resumed, handed_over, unclaimed, resolved, fix_rejected
# (the VLM refused a fix photo; the status does not move), reopened, confirmed, auto_confirmed, closed,
# cancelled, note_added, escalated. ``from_status``/``to_status`` are life statuses: open, claimed,
# in_progress, on_hold, resolved, closed, cancelled (equal when the status does not move).
order_timeline = Table(
    "order_timeline",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("order_id", String(32), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("from_status", String(16), nullable=True),
    Column("to_status", String(16), nullable=True),
    Column("actor_platform", Text, nullable=True),  # NULL actor: the bot itself (auto-confirm, escalation)
    Column("actor_tenant", Text, nullable=True),
    Column("actor_user", Text, nullable=True),
    Column("reason", Text, nullable=True),
    Column("detail", JSON, nullable=True),  # kind-specific: {"to": person} for a hand-over, {"rating": 4}, …
    Index("ix_order_timeline_order", "order_id", "at"),
    Index("ix_order_timeline_kind_at", "kind", "at"),
)


def row_to_order(row: Row[Any]) -> Order:
    m = row._mapping
    return Order(
        id=m["id"],
        status=m["status"],
        alarm_type=m["alarm_type"],
        description=m["description"],
        severity=m["severity"],
        location_text=m["location_text"],
        latitude=m["latitude"],
        longitude=m["longitude"],
        report_photo_key=m["report_photo_key"],
        close_photo_key=m["close_photo_key"],
        vlm_resolved=m["vlm_resolved"],
        vlm_reason=m["vlm_reason"],
        reporter=Reporter(m["reporter_platform"], m["reporter_tenant"], m["reporter_user"]),
        alarm_id=m["alarm_id"],
        created_at=m["created_at"],
        closed_at=m["closed_at"],
        history=list(m["history"] or []),
        cancel_reason=m["cancel_reason"],
        closed_by=_person(m, "closed_by"),
        cancelled_by=_person(m, "cancelled_by"),
        more_photo_keys=tuple(m["more_photo_keys"] or ()),
        assignee=_person(m, "assignee"),
        claimed_at=m["claimed_at"],
        escalations=int(m["escalations"] or 0),
        escalated_at=m["escalated_at"],
        more_reporters=tuple(Reporter(*who) for who in m["more_reporters"] or ()),
        photo_hash=m["photo_hash"],
        note=m["note"] or "",
        voice_keys=tuple(m["voice_keys"] or ()),
    )


def _person(m: Any, prefix: str) -> Reporter | None:
    user = m[f"{prefix}_user"]
    return None if user is None else Reporter(m[f"{prefix}_platform"] or "", m[f"{prefix}_tenant"] or "", user)


def tenant_clauses(scope: Tenant | None) -> list[Any]:
    """WHERE clauses that keep a query inside one tenant (none for ops, who see every tenant)."""
    if scope is None:
        return []
    return [work_orders.c.reporter_platform == scope.platform, work_orders.c.reporter_tenant == scope.tenant]


def person_columns(prefix: str, who: Reporter) -> dict[str, str]:
    return {f"{prefix}_platform": who.platform, f"{prefix}_tenant": who.tenant, f"{prefix}_user": who.user}


_CREATE_ATTEMPTS = 5


def ensure_schema(engine: Engine) -> None:
    """Create what is missing: the table, its indexes, and nullable columns added since it was made.

    No migrations yet: existing columns are never altered. Several processes may run this at once
    on a fresh database; losing a race to create the same table or column is not an error.
    """
    for attempt in range(_CREATE_ATTEMPTS):
        try:
            metadata.create_all(engine)
            break
        except (sa_exc.ProgrammingError, sa_exc.IntegrityError, sa_exc.OperationalError) as exc:
            # SQLite reports "table … already exists" as an OperationalError; any other one is a real failure.
            # Each table and index is its own statement, so a process can lose the race more than once.
            if isinstance(exc, sa_exc.OperationalError) and "already exists" not in str(exc.orig):
                raise
            if attempt == _CREATE_ATTEMPTS - 1:
                raise
    present = {column["name"] for column in inspect(engine).get_columns(work_orders.name)}
    for column in work_orders.columns:
        if column.name in present or not column.nullable:
            continue
        ddl = f"ALTER TABLE {work_orders.name} ADD COLUMN {column.name} {column.type.compile(engine.dialect)}"
        try:
            with engine.begin() as conn:
                conn.execute(text(ddl))
        except (sa_exc.ProgrammingError, sa_exc.OperationalError) as exc:
            if "duplicate column" not in str(exc.orig) and "already exists" not in str(exc.orig):
                raise
