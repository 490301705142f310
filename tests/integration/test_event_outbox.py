"""The transactional outbox on SQLite and PostgreSQL with a real ``redis-server``: an order's event is written in
the change's own transaction, so Redis down at the moment of the change, or restarted with its data lost, loses
no event; and two relays in two processes never hand one event on twice, an order's events in order."""

from __future__ import annotations

import multiprocessing
import os
import secrets
from pathlib import Path
from typing import Any

import pytest
import redis

from bot.adapters.redis.outbox import Outbox
from bot.adapters.sql.orders import SqlWorkOrders
from bot.orders.events import DELIVERED, Delivery
from bot.ports import OrderError, Reporter
from tests.integration import test_orders as repo_tests
from tests.support.outbox import kinds, staged
from tests.support.redis_servers import _PLAIN, Servers
from tests.support.tcp_forward import free_port
from tests.support.workers import relay_events

pytestmark = pytest.mark.integration

orders = repo_tests.orders
schema = repo_tests.schema
new_order = repo_tests.new_order
SPAWN = multiprocessing.get_context("spawn")
GUARD, TECH = Reporter("slack", "T1", "guard"), Reporter("slack", "T1", "tech")


class Heard:
    """A sink that records every event it is handed (as the duty chat or a webhook receiver would)."""

    name = "heard"

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.refuse = 0  # the next attempts answered "try again later"

    def wants(self, event: dict[str, Any]) -> bool:
        return True

    def deliver(self, event: dict[str, Any]) -> Delivery:
        if self.refuse:
            self.refuse -= 1
            return Delivery(ok=False, retry=True, detail="HTTP 503")
        self.events.append(event)
        return DELIVERED


def courier_round(orders: SqlWorkOrders, outbox: Outbox) -> None:
    """What a courier round does with events: relay the database's to Redis, then deliver what is due."""
    while orders.relay.run_once(outbox):
        pass
    while outbox.run_once():
        pass


def test_redis_down_at_the_change_and_restarted_empty_loses_no_event(orders: SqlWorkOrders, tmp_path: Path) -> None:
    port = free_port()
    first, second = Servers(tmp_path / "before"), Servers(tmp_path / "after")
    for servers in (first, second):
        servers.folder.mkdir()
    first.start(port, *_PLAIN)  # no persistence: a restart comes back empty
    client = redis.Redis(port=port, socket_timeout=2, socket_connect_timeout=2)
    heard = Heard()
    outbox = Outbox(client, lambda *p: ":".join(("t", *p)), [heard])
    outbox.on_done = orders.relay.done  # as bootstrap wires it
    try:
        a, _ = orders.create(new_order("a", reporter=GUARD))
        courier_round(orders, outbox)
        assert [e["type"] for e in heard.events] == ["order.created"]

        b, _ = orders.create(new_order("b", reporter=GUARD))  # written while Redis is up, not yet relayed
        first.kill(port)  # Redis goes away, and its data with it
        orders.claim(a.id, TECH)  # changes while Redis is down: each commits with its event
        closed = orders.close(a.id, "fix.jpg", True, "fixed", TECH)
        c, _ = orders.create(new_order("c", reporter=GUARD))
        assert closed.status == "closed"
        with pytest.raises(redis.ConnectionError):
            orders.relay.run_once(outbox)
        assert orders.relay.unsent() == 4  # the failed round gave its batch back

        second.start(port, *_PLAIN)  # back, empty
        courier_round(orders, outbox)
    finally:
        client.close()
        first.stop()
        second.stop()
    assert orders.relay.unsent() == 0
    per_order = {o.id: [e["type"] for e in heard.events if e["order"]["id"] == o.id] for o in (a, b, c)}
    assert per_order == {
        a.id: ["order.created", "order.claimed", "order.closed"],
        b.id: ["order.created"],
        c.id: ["order.created"],
    }
    claimed, closed_event = (next(e for e in heard.events if e["type"] == t) for t in ("order.claimed", "order.closed"))
    assert claimed["order"]["assignee"]["user"] == "tech" and claimed["details"]["by"]["user"] == "tech"
    assert closed_event["order"]["status"] == "closed"  # each event carries the order as its change left it
    assert len({e["id"] for e in heard.events}) == len(heard.events) == 5  # a's created, had before, not again


def test_redis_losing_an_event_it_was_handed_but_had_not_delivered_loses_nothing(
    orders: SqlWorkOrders, tmp_path: Path
) -> None:
    port = free_port()
    first, second = Servers(tmp_path / "before"), Servers(tmp_path / "after")
    for servers in (first, second):
        servers.folder.mkdir()
    first.start(port, *_PLAIN)
    client = redis.Redis(port=port, socket_timeout=2, socket_connect_timeout=2)
    heard = Heard()
    outbox = Outbox(client, lambda *p: ":".join(("t", *p)), [heard], retry_base_seconds=3600)
    outbox.on_done = orders.relay.done
    try:
        a, _ = orders.create(new_order("a", reporter=GUARD))
        courier_round(orders, outbox)
        heard.refuse = 1  # the receiver is down for the next try: the claim waits in Redis for an hour
        orders.claim(a.id, TECH)
        courier_round(orders, outbox)
        assert [e["type"] for e in heard.events] == ["order.created"] and orders.relay.unsent() == 0
        assert outbox.pending_count() == {"heard": 1}

        first.kill(port)
        second.start(port, *_PLAIN)  # a restart without persistence: the waiting claim is gone from Redis
        courier_round(orders, outbox)
    finally:
        client.close()
        first.stop()
        second.stop()
    assert [e["type"] for e in heard.events] == ["order.created", "order.claimed"]  # each once


def test_only_a_change_that_commits_writes_an_event(orders: SqlWorkOrders) -> None:
    order, created = orders.create(new_order("k", reporter=GUARD))
    again, created_again = orders.create(new_order("k", reporter=GUARD))  # a redelivered confirmation
    assert created and not created_again and again.id == order.id
    _, won = orders.claim(order.id, TECH)
    _, won_again = orders.claim(order.id, Reporter("slack", "T1", "late"))
    assert won and not won_again
    orders.cancel(order.id, "duplicate", GUARD)
    with pytest.raises(OrderError):
        orders.close(order.id, "x.jpg", True, "", TECH)  # lost: already cancelled
    assert kinds(orders) == [("order.created", order.id), ("order.claimed", order.id), ("order.cancelled", order.id)]
    assert staged(orders)[2]["details"] == {"by": {"platform": "slack", "tenant": "T1", "user": "guard"}}


def test_no_events_are_written_where_nobody_would_send_them(tmp_path: Path) -> None:
    repo = SqlWorkOrders(f"sqlite:///{tmp_path / 'o.db'}", stage_events=False)
    try:
        order, _ = repo.create(new_order("k", reporter=GUARD))
        repo.claim(order.id, TECH)
        assert staged(repo) == [] and repo.relay.unsent() == 0
    finally:
        repo.dispose()


def test_two_relays_in_two_processes_never_hand_one_event_on_twice(orders: SqlWorkOrders, request: Any) -> None:
    made = []
    for n in range(40):
        order, _ = orders.create(new_order(f"k{n}", reporter=GUARD))
        orders.claim(order.id, TECH)
        if n % 2:
            orders.close(order.id, f"fix{n}.jpg", True, "", TECH)
        else:
            orders.cancel(order.id, "dup", GUARD)
        made.append(order.id)
    written = staged(orders)
    assert len(written) == 120

    url = orders.engine.url.render_as_string(hide_password=False)
    options = None
    if orders.engine.dialect.name == "postgresql":
        options = {"connect_args": {"options": f"-csearch_path={request.getfixturevalue('schema')}"}}
    redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    key = f"test-relay:{secrets.token_hex(6)}"
    barrier, results = SPAWN.Barrier(2), SPAWN.Queue()
    procs = [SPAWN.Process(target=relay_events, args=(url, options, redis_url, key, barrier, results)) for _ in "ab"]
    for p in procs:
        p.start()
    client = redis.Redis.from_url(redis_url)
    try:
        moved = [results.get(timeout=120) for _ in procs]
        handed = [raw.decode() for raw in client.lrange(key, 0, -1)]
    finally:
        for p in procs:
            p.join(timeout=10)
        client.delete(key)
        client.close()
    assert all(isinstance(n, int) for n in moved), moved
    assert sum(moved) == 120
    assert sorted(handed) == sorted(e["id"] for e in written)  # each once: none twice, none lost
    position = {event_id: n for n, event_id in enumerate(handed)}
    for order_id in made:  # whichever relay took them, an order's events went on in the order they happened
        ids = [e["id"] for e in written if e["order"]["id"] == order_id]
        assert [position[i] for i in ids] == sorted(position[i] for i in ids)
    assert orders.relay.unsent() == 0
