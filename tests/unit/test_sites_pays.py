"""Where the registry pays: duty routes by site and zone, duplicates by site, events and the CSV export carrying
the site (and filtered by it), order look-ups and the duty card showing site and zone."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

import pytest
from flask import Flask

from bot.adapters.redis.store import SessionStore
from bot.adapters.sql.orders import SqlWorkOrders
from bot.adapters.storage import LocalFolderStore
from bot.config import Settings
from bot.dialogue.engine import Conversation
from bot.orders.duty_card import duty_card
from bot.orders.duty_routes import parse_duty_routes
from bot.orders.events import order_record
from bot.ports import Tenant
from bot.replies import say
from bot.sites.csv_io import read_sites
from tests.support.admin import AUTH, admin_app, runtime
from tests.support.conversation import ScriptedVlm, pic, texts
from tests.support.engine import Chat
from tests.support.sites import CAMPUS_CSV, campus


def test_duty_routes_by_site_and_zone_come_after_the_type_rules() -> None:
    routes = parse_duty_routes(
        "slack:T1=C0, slack:T1:site:B3-E=C1, slack:T1:zone:east=C2, slack:T1:火情=C3, slack:*:zone:west=C4"
    )
    assert routes.target("slack", "T1", "火情", "B3-E", "east").chats == ("C3",)  # the type first
    assert routes.target("slack", "T1", "漏水", "B3-E", "east").chats == ("C1",)  # then the site
    assert routes.target("slack", "T1", "漏水", "B3-W", "east").chats == ("C2",)  # then the zone
    assert routes.target("slack", "T1", "漏水").chats == ("C0",)  # an order on no site: as before
    assert routes.target("slack", "T1", "漏水", "B5", "west").chats == ("C0",)  # the tenant's own entry first
    assert routes.target("slack", "T9", "漏水", "B5", "west").chats == ("C4",)  # any tenant, by zone
    with pytest.raises(ValueError, match="names no site or zone"):
        parse_duty_routes("slack:T1:zone:=C0")


def _chat(make_engine: Callable[..., Conversation], orders: SqlWorkOrders, user: str = "u1") -> Chat:
    return Chat(make_engine(vlm=ScriptedVlm(), sites=campus(orders)), user=user)


def test_a_report_of_the_same_type_at_the_same_site_asks_same_problem(
    make_engine: Callable[..., Conversation], orders: SqlWorkOrders
) -> None:
    first = _chat(make_engine, orders)
    first.image(pic(1))
    first.text("3号楼东门")
    order_id = first.tap("确认").order_id
    other = _chat(make_engine, orders, user="u2")
    other.image(pic(9))
    r = other.text("B3 east gate")  # other words, the same site
    assert r.state == "waiting_confirm" and any(order_id in text for text in texts(r))
    assert say("zh", "choice_same") in other.buttons()
    joined = other.tap(say("zh", "choice_same"))
    assert texts(joined) == [say("zh", "joined_order", order_id=order_id)]


def test_the_order_record_the_duty_card_and_a_look_up_show_the_site(
    make_engine: Callable[..., Conversation], orders: SqlWorkOrders, settings: Settings
) -> None:
    chat = _chat(make_engine, orders)
    chat.image(pic(1))
    chat.text("东门 3号楼")
    order = orders.get(chat.tap("确认").order_id)
    assert order is not None
    record = order_record(order)
    assert (record["site_id"], record["site_name"], record["zone"]) == ("B3-E", "3号楼东门", "east")
    lines = duty_card(order, settings).lines
    assert say("zh", "duty_site", site="3号楼东门", id="B3-E") in lines
    assert say("zh", "duty_zone", value="east") in lines
    assert say("zh", "duty_location", value="东门 3号楼") in lines  # the worker's words still there
    looked_up = chat.text(f"查工单 {order.id}")
    assert "3号楼东门" in "".join(texts(looked_up))


def test_the_csv_export_carries_the_site_and_filters_by_site_and_zone(
    settings: Settings, fake_store: SessionStore, storage: LocalFolderStore, orders: SqlWorkOrders
) -> None:
    app: Flask = admin_app(settings, fake_store, storage, orders)
    runtime(app).services.sites.apply(Tenant("generic", "t1"), read_sites(CAMPUS_CSV.encode()), replace=True)
    for user, place in (("a", "3号楼东门"), ("b", "5号楼水泵房"), ("c", "停车场")):
        chat = Chat(runtime(app).engine, user=user, platform="generic")
        chat.image(pic(ord(user)))
        chat.text("2")
        chat.text(place)
        assert chat.text("确认").order_id
    client = app.test_client()

    def rows(query: str) -> list[dict[str, str]]:
        body = client.get(f"/admin/api/orders.csv?{query}", headers=AUTH).get_data(as_text=True).lstrip("\ufeff")
        return list(csv.DictReader(io.StringIO(body)))

    every = rows("")
    assert [(r["site_id"], r["site_name"], r["zone"]) for r in every] == [
        ("B3-E", "3号楼东门", "east"),
        ("B5-P", "5号楼水泵房", "west"),
        ("", "", ""),
    ]
    assert [r["site_id"] for r in rows("site=B5-P")] == ["B5-P"]
    assert [r["site_id"] for r in rows("zone=east")] == ["B3-E"]
