"""The transactional outbox: an order's events written in the same transaction as the change, then relayed.

A change to an order and the event that tells of it commit together or not at all: the repository calls
:func:`stage_event` on the connection of its transaction. A :class:`Relay` in every process's courier then
moves the unsent rows, oldest first, on to whoever delivers them (the Redis outbox,
``bot.adapters.redis.outbox``), and marks them sent only once that accepted them. Redis down at the moment
of the change, or down for an hour, loses nothing: the row waits in the database.

Several relays (every process runs one) never hand on one event twice: each claims its batch with one
conditional ``UPDATE`` (``FOR UPDATE SKIP LOCKED`` picks the rows on PostgreSQL; SQLite runs one writer at a
time), and a row is a candidate only while no earlier unsent event of its order waits, so an order's events
are handed on in the order they happened, whichever relay takes them. A relay that dies holding a claim
loses it after ``CLAIM_SECONDS`` (its batch may then be handed on twice: at least once, never never).

A sent row stays until ``KEEP_SENT_DAYS``, and each sink's delivery of it is noted in ``order_outbox_done``. When
the Redis outbox says it lost its data (restarted empty, or failed over before replication: its ``intact`` mark
is gone), one relay refills it with every event of the last ``MAX_AGE_SECONDS`` that some sink has not had yet,
before any relay hands on anything new: the database is where an event lives until it is delivered.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import JSON, Column, Connection, Engine, Index, Integer, String, Table, delete, exists, func, select
from sqlalchemy import exc as sa_exc
from sqlalchemy import update as sql_update

from bot.adapters.sql.database import guarded
from bot.adapters.sql.tables import UtcDateTime, metadata
from bot.orders.events import MAX_AGE_SECONDS, EventType, make_event
from bot.ports import Order

log = logging.getLogger(__name__)

CLAIM_SECONDS = 60.0  # a relay that died holding a batch gives it up after this long
BATCH = 100  # events a relay hands on per round
KEEP_SENT_DAYS = 7  # sent rows are deleted after this long (the event record for other systems is theirs)
EVENTS_OPTION = "wobot_stage_events"  # an engine execution option: False where no one will ever relay

order_outbox = Table(
    "order_outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),  # the order events are handed on in
    Column("event_id", String(40), nullable=False, unique=True),
    Column("order_id", String(32), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("event", JSON, nullable=False),  # the event as delivered: id, type, occurred_at, order, details
    Column("created_at", UtcDateTime, nullable=False),
    Column("claim", String(32), nullable=True),  # the relay round that is handing it on
    Column("claimed_until", UtcDateTime, nullable=True),
    Column("sent_at", UtcDateTime, nullable=True),  # the Redis outbox has it
    Index("ix_order_outbox_unsent", "sent_at", "id"),
    Index("ix_order_outbox_order", "order_id", "id"),
)


order_outbox_done = Table(
    "order_outbox_done",
    metadata,
    Column("event_id", String(40), primary_key=True),
    Column("sink", String(32), primary_key=True),  # this sink has it (delivered, or given up and listed as failed)
    Column("at", UtcDateTime, nullable=False),
)


class Destination(Protocol):
    """Where the relay hands events on: the Redis outbox (``bot.adapters.redis.outbox.Outbox``)."""

    def enqueue(self, events: Sequence[dict[str, Any]], done: Mapping[str, set[str]] | None = None) -> None: ...

    def intact(self) -> bool: ...

    def begin_refill(self) -> bool: ...

    def end_refill(self) -> None: ...


def stage_event(conn: Connection, kind: EventType, order: Order, **details: Any) -> dict[str, Any] | None:
    """Write the event ``kind`` of ``order`` (as it is now, after the change) into ``order_outbox``, on ``conn``,
    inside the caller's transaction: it is sent if and only if that transaction commits.

    Call it in the same ``with engine.begin() as conn:`` block as the change, after the row is updated and
    read back, e.g. ``stage_event(conn, "order.started", row_to_order(row), by=person(by))``; ``details``
    become the event's ``details`` (JSON: ``by`` as ``bot.orders.events.person`` gives it, counts, reasons).
    The event's type must be one of ``bot.orders.events.EVENT_TYPES``. Returns the event (None where the
    deployment relays no events: no ``DUTY_ROUTES`` and no ``ORDER_WEBHOOK_URL``).
    """
    if not conn.get_execution_options().get(EVENTS_OPTION, True):
        return None
    event = make_event(kind, order, **details)
    conn.execute(
        order_outbox.insert().values(
            event_id=event["id"],
            order_id=order.id,
            kind=kind,
            event=event,
            created_at=datetime.now(UTC),
        )
    )
    return event


class Relay:
    """Hands staged events on (``push``: all of a batch, or raise), oldest first; one per process."""

    def __init__(self, engine: Engine, ready: Callable[[], None], clock: Callable[[], datetime] | None = None):
        self._engine, self._ready = engine, ready
        self._clock = clock or (lambda: datetime.now(UTC))
        self._pruned_at: datetime | None = None

    def run_once(self, to: Destination) -> int:
        """Claim a batch, push it, mark it sent; how many events were handed on (0: none waiting, or lost a
        race for them). ``to`` raising (Redis down) gives the batch back for the next round, and re-raises.
        A destination that lost its data is refilled first (by one process; the others wait for it)."""
        if not to.intact():
            if not to.begin_refill():
                return 0  # another process refills it: nothing new goes on before the old
            refilled = self.refill(to.enqueue)
            to.end_refill()
            if refilled:
                log.warning("order events: Redis had lost the outbox; %d recent events checked, refilled", refilled)
        return self.hand_on(to.enqueue)

    def hand_on(self, push: Callable[[Sequence[dict[str, Any]]], None]) -> int:
        """The claim, push and mark of ``run_once``, without the refill check."""
        self._ready()
        now, token = self._clock(), secrets.token_hex(8)
        with guarded("relaying order events"):
            self._expire(now)
            with self._engine.begin() as conn:
                conn.execute(
                    sql_update(order_outbox)
                    .where(order_outbox.c.id.in_(self._candidates(now)))
                    .values(claim=token, claimed_until=now + timedelta(seconds=CLAIM_SECONDS))
                )
            with self._engine.connect() as conn:
                rows = conn.execute(
                    select(order_outbox.c.id, order_outbox.c.event)
                    .where(order_outbox.c.claim == token, order_outbox.c.sent_at.is_(None))
                    .order_by(order_outbox.c.id)
                ).all()
        if not rows:
            return 0
        try:
            push([row.event for row in rows])
        except Exception:
            self._release(token)
            raise
        with guarded("marking order events sent"), self._engine.begin() as conn:
            conn.execute(
                sql_update(order_outbox)
                .where(order_outbox.c.claim == token, order_outbox.c.sent_at.is_(None))
                .values(sent_at=self._clock(), claimed_until=None)
            )
        return len(rows)

    def done(self, sink: str, event_id: str) -> None:
        """Note that ``sink`` has the event (the Redis outbox's ``on_done``)."""
        try:
            with self._engine.begin() as conn:
                conn.execute(order_outbox_done.insert().values(event_id=event_id, sink=sink, at=self._clock()))
        except sa_exc.IntegrityError:
            pass  # noted before (a refill handed it on again)

    def refill(self, push: Callable[[Sequence[dict[str, Any]], Mapping[str, set[str]]], None]) -> int:
        """Hand the sent events of the last ``MAX_AGE_SECONDS`` on again, each only to the sinks that have not
        had it, oldest first; how many events were looked at."""
        self._ready()
        c, d = order_outbox.c, order_outbox_done.c
        since = self._clock() - timedelta(seconds=MAX_AGE_SECONDS)
        recent = [c.sent_at.is_not(None), c.created_at >= since]
        with guarded("refilling order events"), self._engine.connect() as conn:
            events = [row.event for row in conn.execute(select(c.event).where(*recent).order_by(c.id))]
            done: dict[str, set[str]] = {}
            had = select(d.event_id, d.sink).join(order_outbox, c.event_id == d.event_id).where(*recent)
            for event_id, sink in conn.execute(had):
                done.setdefault(event_id, set()).add(sink)
        for start in range(0, len(events), 500):
            push(events[start : start + 500], done)
        return len(events)

    def unsent(self) -> int:
        """Events not yet handed on (a gauge; what an outage of Redis has piled up)."""
        self._ready()
        with guarded("counting order events"), self._engine.connect() as conn:
            query = select(func.count()).select_from(order_outbox).where(order_outbox.c.sent_at.is_(None))
            return int(conn.execute(query).scalar_one())

    def _candidates(self, now: datetime) -> Any:
        """Unsent, unclaimed (or claimed by a relay that died), and first of its order's unsent events."""
        c, earlier = order_outbox.c, order_outbox.alias("earlier")
        waiting_before = exists().where(
            earlier.c.order_id == c.order_id, earlier.c.id < c.id, earlier.c.sent_at.is_(None)
        )
        free = (c.claimed_until.is_(None)) | (c.claimed_until < now)
        return (
            select(c.id)
            .where(c.sent_at.is_(None), free, ~waiting_before)
            .order_by(c.id)
            .limit(BATCH)
            .with_for_update(skip_locked=True)  # PostgreSQL: two relays pick different rows; SQLite ignores it
            .scalar_subquery()
        )

    def _release(self, token: str) -> None:
        try:
            with self._engine.begin() as conn:
                conn.execute(
                    sql_update(order_outbox)
                    .where(order_outbox.c.claim == token, order_outbox.c.sent_at.is_(None))
                    .values(claimed_until=None)
                )
        except Exception as exc:  # the claim runs out by itself
            log.warning("order events: could not give back a batch (%s)", type(exc).__name__)

    def _expire(self, now: datetime) -> None:
        """Once an hour: events older than the Redis outbox would ever try are given up (logged), and sent
        rows past ``KEEP_SENT_DAYS`` deleted."""
        if self._pruned_at is not None and now - self._pruned_at < timedelta(hours=1):
            return
        self._pruned_at = now
        c = order_outbox.c
        with self._engine.begin() as conn:
            stale = conn.execute(
                sql_update(order_outbox)
                .where(c.sent_at.is_(None), c.created_at < now - timedelta(seconds=MAX_AGE_SECONDS))
                .values(sent_at=now)
            ).rowcount
            conn.execute(delete(order_outbox).where(c.sent_at < now - timedelta(days=KEEP_SENT_DAYS)))
            conn.execute(delete(order_outbox_done).where(order_outbox_done.c.at < now - timedelta(days=KEEP_SENT_DAYS)))
        if stale:
            log.error("order events: %d events older than %d s were never handed on; given up", stale, MAX_AGE_SECONDS)
