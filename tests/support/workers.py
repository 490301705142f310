"""Tiny process targets for 'spawn' tests that must start fast: this module imports only what they use."""

from __future__ import annotations

import traceback
from typing import Any


def open_orders(database_urls: list[str], barrier: Any, results: Any) -> None:
    """For each URL: connect at the same instant as the other workers, then use the repository."""
    from bot.adapters.sql.database import make_engine
    from bot.adapters.sql.orders import SqlWorkOrders

    for url in database_urls:
        try:
            engine = make_engine(url, None)  # no I/O yet: the race starts at the barrier
            barrier.wait(60)
            engine.connect().close()  # a new connection's set-up (WAL) on a file nobody has set up yet
            engine.dispose()
            orders = SqlWorkOrders(url)
            orders.ping()  # the first use creates the tables
            orders.dispose()
            results.put("ok")
        except BaseException:
            results.put(traceback.format_exc())


def claim_order(database_url: str, engine_options: Any, order_id: str, user: str, barrier: Any, results: Any) -> None:
    """Claim one order for ``user`` at the same instant as the other processes; report (user, won)."""
    from bot.adapters.sql.orders import SqlWorkOrders
    from bot.ports import Reporter

    try:
        orders = SqlWorkOrders(database_url, engine_options)
        orders.ping()  # connected and ready before the race
        barrier.wait(60)
        _, won = orders.claim(order_id, Reporter("slack", "T1", user))
        orders.dispose()
        results.put((user, won))
    except BaseException:
        results.put((user, traceback.format_exc()))


def relay_events(database_url: str, engine_options: Any, redis_url: str, key: str, barrier: Any, results: Any) -> None:
    """Run a relay until the database has no unsent event, pushing each event's id onto the Redis list ``key``
    (what the Redis outbox would queue); report how many this process handed on."""
    import redis

    from bot.adapters.sql.orders import SqlWorkOrders

    try:
        orders = SqlWorkOrders(database_url, engine_options)
        client = redis.Redis.from_url(redis_url)
        orders.ping()
        barrier.wait(60)
        moved = 0
        while orders.relay.unsent():
            moved += orders.relay.hand_on(lambda events: client.rpush(key, *(e["id"] for e in events)))
        orders.dispose()
        client.close()
        results.put(moved)
    except BaseException:
        results.put(traceback.format_exc())


def sweep_resolution(
    database_url: str, engine_options: Any, settings: dict[str, Any], now: str, barrier: Any, results: Any
) -> None:
    """Sweep the resolution SLA at ``now`` (ISO) at the same instant as the other processes; report how many
    reminders and escalations this process sent."""
    from datetime import datetime

    from bot.adapters.sql.orders import SqlWorkOrders
    from bot.config import Settings
    from bot.orders.sla import sweep_resolution as sweep

    try:
        orders = SqlWorkOrders(database_url, engine_options)
        orders.ping()
        barrier.wait(60)
        sent = sweep(orders, Settings(**settings), datetime.fromisoformat(now))
        orders.dispose()
        results.put(sent)
    except BaseException:
        results.put(traceback.format_exc())
