"""Work-order repository on SQLAlchemy: SQLite by default, PostgreSQL by URL.

Implements :class:`bot.ports.WorkOrders`. Correctness under concurrency comes
from the database, not from locks in this process:

* ``create`` is idempotent per ``report_key`` (a unique column), so a platform
  delivering the same confirmation three times, from three workers, makes one order;
* ``close`` / ``cancel`` are one ``UPDATE ... WHERE status = 'open'``, so two
  concurrent closes cannot both win;
* each change writes its event (``order.created``, ``order.closed``…) into ``order_outbox`` in the same
  transaction (``bot.adapters.sql.outbox.stage_event``): an order is never changed without its event,
  and the event lives in the database until the relay has handed it on.

Connection failures become :class:`bot.ports.ServiceError` with a short message
(never the URL, which may hold a password).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, and_, func, or_, select, text, update
from sqlalchemy import exc as sa_exc

from bot import paging
from bot.adapters.sql.database import guarded, make_engine
from bot.adapters.sql.order_life import OrderLife, add_timeline
from bot.adapters.sql.order_queries import OrderQueries
from bot.adapters.sql.outbox import EVENTS_OPTION, Relay, stage_event
from bot.adapters.sql.sla_queries import SlaQueries
from bot.adapters.sql.tables import (
    ensure_schema,
    person_columns,
    row_to_order,
    site_columns,
    tenant_clauses,
    work_orders,
)
from bot.orders.events import EventType, person
from bot.orders.ids import new_order_id, normalize_order_id
from bot.ports import ORDER_STATUSES, NewOrder, Order, OrderError, OrderNotFound, Reporter, ServiceError, Tenant

if TYPE_CHECKING:
    from bot.config import Settings


_ID_ATTEMPTS = 5


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


class SqlWorkOrders(OrderQueries, SlaQueries, OrderLife):
    """The ``WorkOrders`` port over any SQLAlchemy URL (SQLite file, PostgreSQL via psycopg 3).

    ``engine_options`` go to ``create_engine`` (``connect_args`` are merged with ours);
    tests use it to pin a PostgreSQL ``search_path``. ``stage_events=False``: no events are written (a
    deployment with nobody to send them to, where no relay would ever take them).
    """

    def __init__(
        self, database_url: str, engine_options: dict[str, Any] | None = None, *, stage_events: bool = True
    ) -> None:
        # No I/O here: the app must boot while the database is down (a restart during an outage);
        # the tables are made on the first call that reaches the database.
        self._base_engine = make_engine(database_url, engine_options)
        self._engine = self._base_engine.execution_options(**{EVENTS_OPTION: stage_events})
        self._schema_ready = False
        self._schema_lock = threading.Lock()
        self.relay = Relay(self._engine, self._ready)

    def _ready(self) -> None:
        """Create missing tables and columns once per process; ServiceError while the database is down."""
        if self._schema_ready:
            return
        with self._schema_lock, guarded("creating tables"):
            if not self._schema_ready:
                ensure_schema(self._engine)
                self._schema_ready = True

    @property
    def engine(self) -> Engine:
        return self._engine

    def dispose(self) -> None:
        """Close pooled connections (shutdown and tests)."""
        self._base_engine.dispose()

    # -- writes -----------------------------------------------------------------

    def create(self, new: NewOrder) -> tuple[Order, bool]:
        """Insert once per ``report_key``; a repeat or a lost race returns the existing order."""
        self._ready()
        with guarded("creating order"):
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
                    more_photo_keys=new.more_photo_keys,
                    photo_hash=new.photo_hash,
                    note=new.note,
                    voice_keys=new.voice_keys,
                    site=new.site,
                    coord_datum=new.coord_datum,
                )
                try:
                    with self._engine.begin() as conn:
                        existing = self._by_report_key(conn, new.report_key)
                        if existing is not None:
                            return existing, False
                        conn.execute(work_orders.insert().values(**self._row_values(order, new.report_key)))
                        stage_event(conn, "order.created", order)
                        created = {"kind": "created", "to_status": "open", **person_columns("actor", new.reporter)}
                        add_timeline(conn, order.id, now, created)
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

    def close(self, order_id: str, close_photo_key: str, resolved: bool | None, reason: str, by: Reporter) -> Order:
        """Close an open order outright (any stage). Only tests call it now: people close through
        ``bot.orders.moves.act`` ("close", "resolve", "confirm"), which asks the life table."""
        return self._finish(
            order_id,
            "closing order",
            by,
            by.home,
            status="closed",
            timeline={"kind": "closed", "to_status": "closed", "reason": reason or None, **person_columns("actor", by)},
            close_photo_key=close_photo_key,
            vlm_resolved=resolved,
            vlm_reason=reason,
            **person_columns("closed_by", by),
        )

    def cancel(self, order_id: str, reason: str, by: Reporter, scope: Tenant | None = None) -> Order:
        """Ops' cancel (the life table's "cancel": from any open stage, resolved too). A reporter withdraws
        through ``bot.orders.moves.act`` ("withdraw"), which refuses a resolved order."""
        return self._finish(
            order_id,
            "cancelling order",
            by,
            scope,
            status="cancelled",
            timeline={"kind": "cancelled", "to_status": "cancelled", "reason": reason, **person_columns("actor", by)},
            cancel_reason=reason,
            **person_columns("cancelled_by", by),
        )

    def _finish(
        self, order_id: str, action: str, by: Reporter, scope: Tenant | None, timeline: dict[str, Any], **changes: Any
    ) -> Order:
        """Move an open order to a final status; the WHERE makes the first writer the only winner (and the only
        one whose event is written). Its timeline row and event go in the same transaction (``from_status``: the
        life it left)."""
        oid = normalize_order_id(order_id)
        if oid is None:
            raise OrderNotFound(f"order {order_id!r} not found")
        self._ready()
        where = [work_orders.c.id == oid, *tenant_clauses(scope)]
        now = datetime.now(UTC)
        with guarded(action), self._engine.begin() as conn:
            before = conn.execute(select(work_orders).where(*where)).first()
            result = conn.execute(
                update(work_orders).where(*where, work_orders.c.status == "open").values(closed_at=now, **changes)
            )
            if result.rowcount == 1 and before is not None:
                add_timeline(conn, before.id, now, {"from_status": row_to_order(before).life, **timeline})
            row = conn.execute(select(work_orders).where(*where)).first()
            if row is not None and result.rowcount == 1:
                kind: EventType = "order.closed" if changes["status"] == "closed" else "order.cancelled"
                stage_event(conn, kind, row_to_order(row), by=person(by))
        if row is None:
            raise OrderNotFound(f"order {order_id!r} not found")
        order = row_to_order(row)
        if result.rowcount != 1:
            raise OrderError(f"not open: {order.status}")
        return order

    # -- reads ------------------------------------------------------------------

    def get(self, order_id: str, scope: Tenant | None = None) -> Order | None:
        oid = normalize_order_id(order_id)
        if oid is None:
            return None
        self._ready()
        with guarded("reading order"), self._engine.connect() as conn:
            row = conn.execute(select(work_orders).where(work_orders.c.id == oid, *tenant_clauses(scope))).first()
        return None if row is None else row_to_order(row)

    def open_for(self, reporter: Reporter, limit: int = 10) -> list[Order]:
        """The user's open orders, newest first (what "close" without an id offers)."""
        self._ready()
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
        with guarded("listing orders"), self._engine.connect() as conn:
            return [row_to_order(row) for row in conn.execute(query)]

    def ending_with(self, home: Tenant, suffix: str, limit: int = 3) -> list[Order]:
        # A scan of the tenant's orders (LIKE '%…'): a person's look-up, never a turn's hot path.
        self._ready()
        query = (
            select(work_orders)
            .where(work_orders.c.id.endswith(suffix.upper(), autoescape=True), *tenant_clauses(home))
            .order_by(work_orders.c.created_at.desc(), work_orders.c.id.desc())
            .limit(paging.clamp(limit))
        )
        with guarded("finding an order"), self._engine.connect() as conn:
            return [row_to_order(row) for row in conn.execute(query)]

    def list(
        self, status: str | None = None, q: str | None = None, cursor: str | None = None, limit: int = 50
    ) -> tuple[list[Order], str | None]:
        """Newest first, keyset-paged so pages stay stable while orders are added.

        Raises ValueError for an unknown status or a cursor this method did not hand out.
        """
        self._ready()
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
        with guarded("listing orders"), self._engine.connect() as conn:
            orders = [row_to_order(row) for row in conn.execute(query)]
        if len(orders) <= limit:
            return orders, None
        page = orders[:limit]
        return page, encode_cursor(page[-1].created_at, page[-1].id)

    def counts(self) -> dict[str, int]:
        self._ready()
        counts: dict[str, int] = dict.fromkeys(ORDER_STATUSES, 0)
        query = select(work_orders.c.status, func.count()).group_by(work_orders.c.status)
        with guarded("counting orders"), self._engine.connect() as conn:
            for status, n in conn.execute(query):
                counts[status] = int(n)
        return counts

    def ping(self) -> None:
        """Raise ServiceError while the database is down; the first success also creates the tables."""
        self._ready()
        with guarded("ping"), self._engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    # -- helpers ----------------------------------------------------------------

    @staticmethod
    def _by_report_key(conn: Any, report_key: str) -> Order | None:
        row = conn.execute(select(work_orders).where(work_orders.c.report_key == report_key)).first()
        return None if row is None else row_to_order(row)

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
            "more_photo_keys": list(order.more_photo_keys),
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
            "photo_hash": order.photo_hash,
            "note": order.note or None,
            "voice_keys": list(order.voice_keys) or None,
            **site_columns(order),
        }


def build_orders(settings: Settings) -> SqlWorkOrders:
    """The repository the app uses, from ``DATABASE_URL``; it writes events when someone is there to hear them."""
    wanted = bool(settings.duty_routes or settings.escalation_routes or settings.order_webhook_url)
    return SqlWorkOrders(settings.database_url, stage_events=wanted)
