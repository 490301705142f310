"""Work-order repository on SQLAlchemy: SQLite by default, PostgreSQL by URL.

Implements :class:`bot.ports.WorkOrders`. Correctness under concurrency comes
from the database, not from locks in this process:

* ``create`` is idempotent per ``report_key`` (a unique column), so a platform
  delivering the same confirmation three times, from three workers, makes one order;
* ``close`` / ``cancel`` are one ``UPDATE ... WHERE status = 'open'``, so two
  concurrent closes cannot both win.

Connection failures become :class:`bot.ports.ServiceError` with a short message
(never the URL, which may hold a password).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
    and_,
    create_engine,
    event,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Row, make_url
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator

from bot import paging
from bot.ports import ORDER_STATUSES, NewOrder, Order, OrderError, OrderNotFound, Reporter, ServiceError

if TYPE_CHECKING:
    from bot.config import Settings

# Ids are read aloud and typed on phones: no 0/O or 1/I to confuse.
ID_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
ID_RE = re.compile(rf"^WO-\d{{8}}-[{ID_ALPHABET}]{{5}}$")
_ID_ATTEMPTS = 5
_SQLITE_BUSY_TIMEOUT_MS = 10_000
_PG_CONNECT_TIMEOUT_S = 5


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
    Column("vlm_resolved", Boolean, nullable=True),
    Column("vlm_reason", Text, nullable=True),
    Column("cancel_reason", Text, nullable=True),
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


def database_url(url: str) -> URL:
    """Parse the URL; plain ``postgresql://`` means psycopg 3 (SQLAlchemy would pick psycopg2)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _is_memory_sqlite(url: URL) -> bool:
    db = url.database or ""
    return db in ("", ":memory:") or (db.startswith("file:") and "mode=memory" in db)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    """Wait for other writers instead of failing, and let readers run beside one writer."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {_SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
    finally:
        cursor.close()


def _make_engine(url: str, engine_options: dict[str, Any] | None) -> Engine:
    parsed = database_url(url)
    options: dict[str, Any] = dict(engine_options or {})
    connect_args: dict[str, Any] = dict(options.pop("connect_args", {}))
    options.setdefault("pool_pre_ping", True)
    is_sqlite = parsed.get_backend_name() == "sqlite"
    memory = is_sqlite and _is_memory_sqlite(parsed)
    if is_sqlite:
        connect_args.setdefault("check_same_thread", False)
        if memory:
            # one shared connection, or every thread would see its own empty database
            options.setdefault("poolclass", StaticPool)
        elif parsed.database and not parsed.database.startswith("file:"):
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    elif parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
        connect_args.setdefault("connect_timeout", _PG_CONNECT_TIMEOUT_S)
    engine = create_engine(parsed, connect_args=connect_args, **options)
    if is_sqlite and not memory:
        event.listen(engine, "connect", _sqlite_on_connect)
    return engine


@contextmanager
def _guarded(action: str) -> Iterator[None]:
    """One exception type for 'the database is not there', with no URL or SQL in its message."""
    try:
        yield
    except (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError) as exc:
        raise ServiceError(f"work-order database unavailable ({action})") from exc
    except sa_exc.TimeoutError as exc:  # connection pool exhausted
        raise ServiceError(f"work-order database busy ({action})") from exc


def encode_cursor(created_at: datetime, order_id: str) -> str:
    return paging.encode_cursor({"t": created_at.astimezone(UTC).isoformat(), "id": order_id})


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """Raise ValueError for anything :func:`encode_cursor` did not make."""
    data = paging.decode_cursor(cursor)
    try:
        created_at = datetime.fromisoformat(data["t"])
        order_id = data["id"]
    except (KeyError, TypeError, ValueError):
        raise ValueError("invalid cursor") from None
    if created_at.tzinfo is None or not isinstance(order_id, str):
        raise ValueError("invalid cursor")
    return created_at, order_id


def _escape_like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _to_order(row: Row[Any]) -> Order:
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
    )


class SqlWorkOrders:
    """The ``WorkOrders`` port over any SQLAlchemy URL (SQLite file, PostgreSQL via psycopg 3).

    ``engine_options`` go to ``create_engine`` (``connect_args`` are merged with ours);
    tests use it to pin a PostgreSQL ``search_path``.
    """

    def __init__(self, database_url: str, engine_options: dict[str, Any] | None = None) -> None:
        self._engine = _make_engine(database_url, engine_options)
        # No migrations yet: create missing tables and indexes, never alter existing ones.
        # Switch to Alembic before the first schema change.
        try:
            with _guarded("creating tables"):
                try:
                    metadata.create_all(self._engine)
                except (sa_exc.ProgrammingError, sa_exc.IntegrityError, sa_exc.OperationalError) as exc:
                    # Another process created the tables between our check and our CREATE (several
                    # workers starting on a fresh database). SQLite reports that as an OperationalError
                    # "table … already exists"; any other OperationalError is a real failure.
                    if isinstance(exc, sa_exc.OperationalError) and "already exists" not in str(exc.orig):
                        raise
                    metadata.create_all(self._engine)
        except ServiceError:
            self._engine.dispose()
            raise

    @property
    def engine(self) -> Engine:
        return self._engine

    def dispose(self) -> None:
        """Close pooled connections (shutdown and tests)."""
        self._engine.dispose()

    # -- writes -----------------------------------------------------------------

    def create(self, new: NewOrder) -> tuple[Order, bool]:
        """Insert once per ``report_key``; a repeat or a lost race returns the existing order."""
        with _guarded("creating order"):
            for _ in range(_ID_ATTEMPTS):
                now = datetime.now(UTC)
                order = Order(
                    id=new_order_id(now),
                    status="open",
                    alarm_type=new.alarm_type,
                    description=new.description,
                    severity=new.severity,
                    location_text=new.location_text,
                    latitude=new.latitude,
                    longitude=new.longitude,
                    report_photo_key=new.report_photo_key,
                    close_photo_key=None,
                    vlm_resolved=None,
                    vlm_reason=None,
                    reporter=new.reporter,
                    alarm_id=new.alarm_id,
                    created_at=now,
                    closed_at=None,
                    history=list(new.history),
                )
                try:
                    with self._engine.begin() as conn:
                        existing = self._by_report_key(conn, new.report_key)
                        if existing is not None:
                            return existing, False
                        conn.execute(work_orders.insert().values(**self._row_values(order, new.report_key)))
                    return order, True
                except sa_exc.IntegrityError:
                    # Either another writer inserted this report_key first (return theirs),
                    # or the random id collided (try another); anything else is a real error.
                    with self._engine.connect() as conn:
                        existing = self._by_report_key(conn, new.report_key)
                        id_taken = conn.execute(select(work_orders.c.id).where(work_orders.c.id == order.id)).first()
                    if existing is not None:
                        return existing, False
                    if id_taken is None:
                        raise
        raise ServiceError("could not allocate a work-order id")

    def close(self, order_id: str, close_photo_key: str, resolved: bool | None, reason: str) -> Order:
        return self._finish(
            order_id,
            "closing order",
            status="closed",
            close_photo_key=close_photo_key,
            vlm_resolved=resolved,
            vlm_reason=reason,
        )

    def cancel(self, order_id: str, reason: str) -> Order:
        return self._finish(order_id, "cancelling order", status="cancelled", cancel_reason=reason)

    def _finish(self, order_id: str, action: str, **changes: Any) -> Order:
        """Move an open order to a final status; the WHERE makes the first writer the only winner."""
        oid = normalize_order_id(order_id)
        if oid is None:
            raise OrderNotFound(f"order {order_id!r} not found")
        with _guarded(action), self._engine.begin() as conn:
            result = conn.execute(
                update(work_orders)
                .where(work_orders.c.id == oid, work_orders.c.status == "open")
                .values(closed_at=datetime.now(UTC), **changes)
            )
            row = conn.execute(select(work_orders).where(work_orders.c.id == oid)).first()
        if row is None:
            raise OrderNotFound(f"order {order_id!r} not found")
        order = _to_order(row)
        if result.rowcount != 1:
            raise OrderError(f"not open: {order.status}")
        return order

    # -- reads ------------------------------------------------------------------

    def get(self, order_id: str) -> Order | None:
        oid = normalize_order_id(order_id)
        if oid is None:
            return None
        with _guarded("reading order"), self._engine.connect() as conn:
            row = conn.execute(select(work_orders).where(work_orders.c.id == oid)).first()
        return None if row is None else _to_order(row)

    def open_for(self, reporter: Reporter, limit: int = 10) -> list[Order]:
        """The user's open orders, newest first (what "close" without an id offers)."""
        query = (
            select(work_orders)
            .where(
                work_orders.c.reporter_platform == reporter.platform,
                work_orders.c.reporter_tenant == reporter.tenant,
                work_orders.c.reporter_user == reporter.user,
                work_orders.c.status == "open",
            )
            .order_by(work_orders.c.created_at.desc(), work_orders.c.id.desc())
            .limit(paging.clamp(limit))
        )
        with _guarded("listing orders"), self._engine.connect() as conn:
            return [_to_order(row) for row in conn.execute(query)]

    def list(
        self, status: str | None = None, q: str | None = None, cursor: str | None = None, limit: int = 50
    ) -> tuple[list[Order], str | None]:
        """Newest first, keyset-paged so pages stay stable while orders are added.

        Raises ValueError for an unknown status or a cursor this method did not hand out.
        """
        limit = paging.clamp(limit)
        c = work_orders.c
        query = select(work_orders).order_by(c.created_at.desc(), c.id.desc()).limit(limit + 1)
        if status:
            if status not in ORDER_STATUSES:
                raise ValueError(f"unknown status {status!r}")
            query = query.where(c.status == status)
        term = (q or "").strip()
        if term:
            pattern = f"%{_escape_like(term)}%"
            searchable = (c.id, c.description, c.location_text, c.reporter_user)
            query = query.where(or_(*(col.ilike(pattern, escape="\\") for col in searchable)))
        if cursor:
            after_time, after_id = decode_cursor(cursor)
            query = query.where(or_(c.created_at < after_time, and_(c.created_at == after_time, c.id < after_id)))
        with _guarded("listing orders"), self._engine.connect() as conn:
            orders = [_to_order(row) for row in conn.execute(query)]
        if len(orders) <= limit:
            return orders, None
        page = orders[:limit]
        return page, encode_cursor(page[-1].created_at, page[-1].id)

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = dict.fromkeys(ORDER_STATUSES, 0)
        query = select(work_orders.c.status, func.count()).group_by(work_orders.c.status)
        with _guarded("counting orders"), self._engine.connect() as conn:
            for status, n in conn.execute(query):
                counts[status] = int(n)
        return counts

    def ping(self) -> None:
        with _guarded("ping"), self._engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    # -- helpers ----------------------------------------------------------------

    @staticmethod
    def _by_report_key(conn: Any, report_key: str) -> Order | None:
        row = conn.execute(select(work_orders).where(work_orders.c.report_key == report_key)).first()
        return None if row is None else _to_order(row)

    @staticmethod
    def _row_values(order: Order, report_key: str) -> dict[str, Any]:
        return {
            "id": order.id,
            "report_key": report_key,
            "status": order.status,
            "alarm_type": order.alarm_type,
            "description": order.description,
            "severity": order.severity,
            "location_text": order.location_text,
            "latitude": order.latitude,
            "longitude": order.longitude,
            "report_photo_key": order.report_photo_key,
            "close_photo_key": order.close_photo_key,
            "vlm_resolved": order.vlm_resolved,
            "vlm_reason": order.vlm_reason,
            "cancel_reason": order.cancel_reason,
            "reporter_platform": order.reporter.platform,
            "reporter_tenant": order.reporter.tenant,
            "reporter_user": order.reporter.user,
            "alarm_id": order.alarm_id,
            "created_at": order.created_at,
            "closed_at": order.closed_at,
            "history": order.history,
        }


def build_orders(settings: Settings) -> SqlWorkOrders:
    """The repository the app uses, from ``DATABASE_URL``."""
    return SqlWorkOrders(settings.database_url)
