"""Each flow works on a ``TurnContext`` alone, without the machine or the other flows."""

from __future__ import annotations

import pytest

from bot.adapters.redis.sessions import RedisSessions
from bot.adapters.redis.store import SessionStore
from bot.adapters.sql.orders import SqlWorkOrders
from bot.adapters.storage import LocalFolderStore
from bot.config import Settings
from bot.dialogue.context import Refused, TurnContext
from bot.dialogue.flows.close import CloseFlow
from bot.dialogue.flows.lookups import Lookups
from bot.dialogue.flows.places import PlaceQuestion
from bot.dialogue.flows.report import ReportFlow
from bot.dialogue.machine import IDLE
from bot.dialogue.photos import TurnPhotos
from bot.dialogue.services import Services
from bot.dialogue.turn import Turn
from bot.messages import Incoming
from bot.ports import Order
from bot.replies import say
from bot.session import Session


@pytest.fixture
def services(
    settings: Settings, fake_store: SessionStore, storage: LocalFolderStore, orders: SqlWorkOrders
) -> Services:
    return Services(settings=settings, sessions=RedisSessions(fake_store), storage=storage, orders=orders, vlm=None)


def context(services: Services, text: str, state: str = IDLE) -> TurnContext:
    session = Session(key="test:t1:u1", state=state)
    return TurnContext(services, session, Incoming("test", "t1", "u1", "text", text))


def test_no_flow_inherits_another_nor_the_model() -> None:
    for flow in (ReportFlow, CloseFlow, Lookups, TurnPhotos, TurnContext, Turn):
        assert flow.__bases__ == (object,), flow


def test_the_close_flow_alone_asks_for_the_photo_of_the_order_named(services: Services, open_order: Order) -> None:
    ctx = context(services, f"结单 {open_order.id}")
    close = CloseFlow(ctx, TurnPhotos(ctx))
    close.find_order_to_close()
    close.ask_for_close_photo()
    assert ctx.pending == {"order_id": open_order.id}
    assert ctx.replies == [
        say("zh", "ask_close_photo", order_id=open_order.id, alarm_type="漏水", location=open_order.location_text)
    ]


def test_the_close_flow_alone_refuses_an_unknown_order(services: Services) -> None:
    ctx = context(services, "结单 WO-20200101-ABCDE")
    with pytest.raises(Refused):
        CloseFlow(ctx, TurnPhotos(ctx)).find_order_to_close()
    assert ctx.replies == [say("zh", "order_not_found", order_id="WO-20200101-ABCDE")]


def test_the_report_flow_alone_takes_a_typed_place(services: Services) -> None:
    ctx = context(services, "  3号楼 地下室 ", state="waiting_location")
    ReportFlow(ctx, TurnPhotos(ctx), PlaceQuestion(ctx)).take_location()
    assert ctx.pending == {"location": {"label": "3号楼 地下室"}}
    assert ctx.replies == []


def test_the_lookups_list_the_users_open_orders(services: Services, open_order: Order) -> None:
    ctx = context(services, "我的工单")
    Lookups(ctx, ReportFlow(ctx, TurnPhotos(ctx), PlaceQuestion(ctx))).say_my_orders()
    assert len(ctx.replies) == 1 and open_order.id in ctx.replies[0]
    assert ctx.errors == [] and ctx.session.state == IDLE
