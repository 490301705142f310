"""The ``work_orders`` table and the order id format: the schema the repository in ``bot.orders`` writes."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime

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
    MetaData,
    String,
    Table,
    Text,
    inspect,
    text,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.types import TypeDecorator

# Ids are read aloud and typed on phones: no 0/O or 1/I to confuse.
ID_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
ID_RE = re.compile(rf"^WO-\d{{8}}-[{ID_ALPHABET}]{{5}}$")


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
    CheckConstraint("status IN ('open', 'closed', 'cancelled')", name="ck_work_orders_status"),
    Index("ix_work_orders_status_created", "status", "created_at"),
    Index("ix_work_orders_reporter", "reporter_platform", "reporter_tenant", "reporter_user"),
)


def new_order_id(now: datetime) -> str:
    """``WO-YYYYMMDD-XXXXX``: dated so people can place it, random so it cannot be guessed."""
    suffix = "".join(secrets.choice(ID_ALPHABET) for _ in range(5))
    return f"WO-{now.astimezone(UTC):%Y%m%d}-{suffix}"


def normalize_order_id(order_id: str) -> str | None:
    """What a user typed (``wo-20261121-abcde ``) → the stored id, or None if it cannot be one."""
    candidate = order_id.strip().upper()
    return candidate if ID_RE.match(candidate) else None


def ensure_schema(engine: Engine) -> None:
    """Create what is missing: the table, its indexes, and nullable columns added since it was made.

    No migrations yet: existing columns are never altered. Several processes may run this at once
    on a fresh database; losing a race to create the same table or column is not an error.
    """
    try:
        metadata.create_all(engine)
    except (sa_exc.ProgrammingError, sa_exc.IntegrityError, sa_exc.OperationalError) as exc:
        # SQLite reports "table … already exists" as an OperationalError; any other one is a real failure.
        if isinstance(exc, sa_exc.OperationalError) and "already exists" not in str(exc.orig):
            raise
        metadata.create_all(engine)
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
