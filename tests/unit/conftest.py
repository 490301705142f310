"""Fixtures of the engine's unit tests: a chat on the fakes, and an open order of its user."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bot.adapters.sql.orders import SqlWorkOrders
from bot.adapters.storage import LocalFolderStore
from bot.dialogue.engine import Conversation
from bot.ports import NewOrder, Order, Reporter
from tests.support.conversation import pic
from tests.support.engine import Chat


@pytest.fixture
def chat(make_engine: Callable[..., Conversation]) -> Chat:
    return Chat(make_engine())


@pytest.fixture
def open_order(storage: LocalFolderStore, orders: SqlWorkOrders) -> Order:
    """An open order of the chat user (u1), made directly in the repository."""
    key = storage.put(pic(7), "image/jpeg")
    order, _ = orders.create(
        NewOrder(
            report_key="fixture-order",
            reporter=Reporter("test", "t1", "u1"),
            alarm_type="漏水",
            description="管道漏水",
            severity="high",
            location_text="1号楼",
            latitude=None,
            longitude=None,
            report_photo_key=key,
            alarm_id=None,
            history=[],
        )
    )
    return order
