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
