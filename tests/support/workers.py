"""Tiny process targets for 'spawn' tests that must start fast: this module imports only what they use."""

from __future__ import annotations

import traceback
from typing import Any


def open_orders(database_url: str, barrier: Any, results: Any) -> None:
    """Open the work-order repository at the same instant as the other workers (tables get created)."""
    try:
        from bot.orders import SqlWorkOrders

        barrier.wait(60)
        SqlWorkOrders(database_url).dispose()
        results.put("ok")
    except BaseException:
        results.put(traceback.format_exc())
