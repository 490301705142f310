"""Order events and their durable hand-off to whoever must hear of them (the duty chat, other systems).

A change to an order writes its event into the database in the change's own transaction
(``bot.adapters.sql.outbox``); the relay in every process's courier ``enqueue``s it here (one round trip)
and only then marks it sent, so Redis down at the moment of the change loses nothing.

Each *sink* (``duty``: the duty chat and the people concerned; ``webhook``: another system) has, per order,
a FIFO list of events and one entry in a schedule (a sorted set: order id → when its first event is due).
A ``Courier`` in every process takes due orders under a short lease (so one process at a time works on an
order's events, keeping them in order), delivers the first event and moves on, or retries it later with
backoff.

Keys (``P`` is the prefix, ``S`` the sink): ``P:outbox:{outbox}:S:q:<order>`` (list of events),
``P:outbox:{outbox}:S:due`` (sorted set), ``P:outbox:{outbox}:S:lease:<order>`` (string, PX), and
``P:outbox:{outbox}:S:failed`` (hash: event id → the event as it failed, for the admin API to show and retry).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import redis

from bot.orders.events import (
    BATCH,
    LEASE_MS,
    MAX_AGE_SECONDS,
    MAX_BACKOFF_SECONDS,
    Delivery,
    Events,
    EventType,
    Sink,
    make_event,
)
from bot.ports import Order

log = logging.getLogger(__name__)


class Outbox(Events):
    def __init__(
        self,
        client: redis.Redis,
        key: Callable[..., str],
        sinks: Iterable[Sink],
        *,
        retry_base_seconds: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis: Any = client
        self._key = key
        self.sinks = {sink.name: sink for sink in sinks}
        self.retry_base = retry_base_seconds
        self.clock = clock
        # told (sink, event id) when an event leaves a sink's queue, delivered or given up: the database's
        # outbox keeps it, so a Redis that lost its data gets back only what was still waiting
        self.on_done: Callable[[str, str], None] | None = None

    def add_sink(self, sink: Sink) -> None:
        self.sinks[sink.name] = sink

    def _k(self, sink: str, *parts: str) -> str:
        # One hash tag for the whole outbox: ``emit`` writes every sink's queue in one MULTI, which a Redis
        # Cluster runs only within one slot. Order events are a few per order, far from a hot key.
        return self._key("outbox", "{outbox}", sink, *parts)

    # -- writing: one round trip ------------------------------------------------------------------------------
    def emit(self, kind: EventType, order: Order, **details: Any) -> None:
        """Queue a new event at once (tools and benchmarks; the app's events come through ``enqueue``)."""
        self.enqueue([make_event(kind, order, **details)])

    def enqueue(self, events: Sequence[dict[str, Any]], done: Mapping[str, set[str]] | None = None) -> None:
        """Queue events already made (``bot.adapters.sql.outbox.Relay`` hands on the database's), in order,
        in one MULTI: all of them or, if Redis fails, none (the relay then tries them again). ``done``: event
        id → the sinks that already have it (a Redis that lost its data is given back the rest)."""
        pipe = self.redis.pipeline(transaction=True)
        queued = False
        for event in events:
            order_id = event["order"]["id"]
            entry = json.dumps({"event": event, "attempts": 0, "first_at": self.clock()}, ensure_ascii=False)
            skip = (done or {}).get(event["id"], set())
            for name, sink in self.sinks.items():
                if name not in skip and sink.wants(event):
                    pipe.rpush(self._k(name, "q", order_id), entry)
                    pipe.zadd(self._k(name, "due"), {order_id: self.clock()}, nx=True)  # a retry's later time stays
                    queued = True
        if queued:
            pipe.execute()

    # -- delivering (a courier thread in every process) -----------------------------------------------------
    def run_once(self) -> int:
        """Deliver what is due now, one event per order per sink; returns how many attempts were made."""
        attempts = 0
        for name, sink in self.sinks.items():
            due = self.redis.zrangebyscore(self._k(name, "due"), "-inf", self.clock(), start=0, num=BATCH)
            for raw_id in due:
                order_id = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
                lease = self._k(name, "lease", order_id)
                if not self.redis.set(lease, b"1", nx=True, px=LEASE_MS):
                    continue  # another process is on this order's events
                try:
                    attempts += self._deliver_head(name, sink, order_id)
                finally:
                    self.redis.delete(lease)
        return attempts

    def _deliver_head(self, name: str, sink: Sink, order_id: str) -> int:
        queue = self._k(name, "q", order_id)
        raw = self.redis.lindex(queue, 0)
        if raw is None:
            self._settle(self.redis.pipeline(transaction=True), name, order_id)
            return 0
        entry = json.loads(raw)
        try:
            outcome = sink.deliver(entry["event"])
        except Exception as exc:  # a bug in a sink must not stop the courier; it is retried like an error
            log.exception("%s delivery crashed", name, extra={"order": order_id})
            outcome = Delivery(ok=False, retry=True, detail=type(exc).__name__)
        entry["attempts"] += 1
        pipe = self.redis.pipeline(transaction=True)
        if not outcome.ok:
            entry["last_error"] = outcome.detail[:300]
            if outcome.retry and self.clock() - entry["first_at"] < MAX_AGE_SECONDS:
                wait = outcome.after if outcome.after is not None else self.retry_base * 2 ** (entry["attempts"] - 1)
                pipe.lset(queue, 0, json.dumps(entry, ensure_ascii=False))
                pipe.zadd(self._k(name, "due"), {order_id: self.clock() + min(wait, MAX_BACKOFF_SECONDS)})
                pipe.execute()
                log.info(
                    "%s %s not delivered (%s); retry %d",
                    name,
                    entry["event"]["type"],
                    outcome.detail,
                    entry["attempts"],
                )
                return 1
            log.error(
                "%s %s of %s failed for good after %d attempts: %s",
                name,
                entry["event"]["type"],
                order_id,
                entry["attempts"],
                outcome.detail,
            )
            entry["failed_at"] = self.clock()
            pipe.hset(self._k(name, "failed"), entry["event"]["id"], json.dumps(entry, ensure_ascii=False))
        pipe.lpop(queue)
        self._settle(pipe, name, order_id)
        if self.on_done is not None:
            try:
                self.on_done(name, entry["event"]["id"])
            except Exception as exc:  # only a Redis that loses its data later would hand it on again
                log.warning("%s: could not record %s as done (%s)", name, entry["event"]["id"], type(exc).__name__)
        return 1

    def _settle(self, pipe: Any, name: str, order_id: str) -> None:
        """Run ``pipe`` (what the head's fate needs) with the order taken off the schedule and its queue
        counted, in one MULTI; then put it back, due now, if events still wait. An ``emit`` before the
        MULTI is counted here; one after it finds no schedule entry and makes one (its ZADD NX). No WATCH."""
        queue, due = self._k(name, "q", order_id), self._k(name, "due")
        pipe.zrem(due, order_id)
        pipe.llen(queue)
        waiting = pipe.execute()[-1]
        if waiting:
            self.redis.zadd(due, {order_id: self.clock()}, nx=True)

    # -- a Redis that lost its data -------------------------------------------------------------------------
    def intact(self) -> bool:
        """Has this Redis kept the outbox's data since it was last marked (False: new, restarted empty, or
        failed over before replication)?"""
        return bool(self.redis.exists(self._key("outbox", "{outbox}", "intact")))

    def begin_refill(self) -> bool:
        """One process at a time refills a Redis that lost its data (True: this one)."""
        return bool(self.redis.set(self._key("outbox", "{outbox}", "refilling"), b"1", nx=True, px=LEASE_MS))

    def end_refill(self) -> None:
        self.redis.set(self._key("outbox", "{outbox}", "intact"), b"1")
        self.redis.delete(self._key("outbox", "{outbox}", "refilling"))

    # -- the admin's view ---------------------------------------------------------------------------------
    def failed(self, sink: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Deliveries given up, newest first: the sink, the event, the attempts and the last error."""
        rows: list[dict[str, Any]] = []
        for name in [sink] if sink else list(self.sinks):
            for raw in self.redis.hvals(self._k(name, "failed")):
                entry = json.loads(raw)
                rows.append({"sink": name, **entry})
        rows.sort(key=lambda row: row.get("failed_at") or 0, reverse=True)
        return rows[:limit]

    def pending_count(self) -> dict[str, int]:
        """Orders with events waiting, per sink (a gauge)."""
        return {name: int(self.redis.zcard(self._k(name, "due"))) for name in self.sinks}

    def retry_failed(self, event_id: str) -> dict[str, Any] | None:
        """Put a failed event back in front of its order's queue, due now; None if no failed event has that id."""
        for name in self.sinks:
            raw = self.redis.hget(self._k(name, "failed"), event_id)
            if raw is None:
                continue
            entry = json.loads(raw)
            order_id = entry["event"]["order"]["id"]
            fresh = {"event": entry["event"], "attempts": 0, "first_at": self.clock()}
            pipe = self.redis.pipeline(transaction=True)
            pipe.hdel(self._k(name, "failed"), event_id)
            pipe.lpush(self._k(name, "q", order_id), json.dumps(fresh, ensure_ascii=False))
            pipe.zadd(self._k(name, "due"), {order_id: self.clock()})
            pipe.execute()
            return {"sink": name, **fresh}
        return None
