"""A shared location near registry sites: the nearest three offered as buttons with "somewhere else"; the
coordinates kept either way, with their datum; GCJ-02 (WeCom, Feishu) and WGS84 (Slack, generic) compared like
with like. Locations follow the shape the engine gets from bot.messages.Location (WeCom's Location_X/Y)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select

from bot.adapters.sql.orders import SqlWorkOrders
from bot.adapters.sql.tables import work_orders
from bot.dialogue.engine import Conversation
from bot.ports import Tenant
from bot.replies import say
from bot.sites.csv_io import read_sites
from bot.sites.geo import distance_m, gcj02_to_wgs84, nearest, wgs84_to_gcj02
from tests.support.conversation import ScriptedVlm, pic, texts
from tests.support.engine import Chat
from tests.support.sites import CAMPUS_CSV, campus

SITES = read_sites(CAMPUS_CSV.encode())


def test_the_gcj02_transform_moves_a_point_in_china_some_500_m_and_back() -> None:
    gcj = wgs84_to_gcj02(39.908692, 116.397477)  # Tiananmen
    assert 400 < distance_m(39.908692, 116.397477, *gcj) < 700
    assert distance_m(*gcj02_to_wgs84(*gcj), 39.908692, 116.397477) < 0.05
    assert wgs84_to_gcj02(51.5007, -0.1246) == (51.5007, -0.1246)  # London: no offset outside China


def test_nearest_compares_like_with_like() -> None:
    assert [(s.id, round(m)) for s, m in nearest(SITES, 31.2304, 121.4738, "gcj02", 80)] == [
        ("B3", 10),
        ("B3-E", 48),
        ("B3-W", 67),
    ]
    wgs = gcj02_to_wgs84(31.2304, 121.4737)
    assert [s.id for s, _ in nearest(SITES, *wgs, "wgs84", 20)] == ["B3"]  # the same spot, sent by GPS
    assert nearest(SITES, 31.2304, 121.4737, "wgs84", 80) == []  # GCJ numbers taken for WGS84: ~500 m off
    assert nearest(SITES, 31.2304, 121.4737, "gcj02", 0) == []  # SITE_SNAP_METERS=0: never


def _chat(make_engine: Callable[..., Conversation], orders: SqlWorkOrders, platform: str) -> Chat:
    chat = Chat(make_engine(vlm=ScriptedVlm(), sites=campus(orders, Tenant(platform, "t1"))), platform=platform)
    assert chat.image(pic(1)).state == "waiting_location"
    return chat


def _row(orders: SqlWorkOrders, order_id: str) -> dict[str, object]:
    with orders.engine.connect() as conn:
        return dict(conn.execute(select(work_orders).where(work_orders.c.id == order_id)).one()._mapping)


def test_near_three_sites_offers_them_nearest_first_and_keeps_the_coordinates(
    make_engine: Callable[..., Conversation], orders: SqlWorkOrders
) -> None:
    chat = _chat(make_engine, orders, "wecom")
    r = chat.location("上海市黄浦区", 31.2304, 121.4738)
    assert r.state == "waiting_location" and texts(r) == [say("zh", "site_near")]
    assert list(chat.buttons()) == [
        "1. 3号楼（10 米）",
        "2. 3号楼东门（48 米）",
        "3. 3号楼西门（67 米）",
        "别处",
        "取消",
    ]
    r = chat.tap("2. 3号楼东门（48 米）")
    assert r.state == "waiting_confirm"
    place = say("zh", "site_place_with_zone", place="3号楼东门（按定位）", zone="east")
    assert say("zh", "summary_location", value=place) in texts(r)[-1]
    row = _row(orders, chat.tap("确认").order_id)
    assert (row["site_id"], row["place_source"], row["coord_datum"]) == ("B3-E", "snapped", "gcj02")
    assert (row["latitude"], row["longitude"], row["location_text"]) == (31.2304, 121.4738, "上海市黄浦区")


def test_near_one_site_and_somewhere_else_keeps_the_coordinates_on_no_site(
    make_engine: Callable[..., Conversation], orders: SqlWorkOrders
) -> None:
    chat = _chat(make_engine, orders, "feishu")
    chat.location("", 31.23518, 121.48)  # 20 m north of B5
    assert list(chat.buttons()) == ["1. 5号楼（20 米）", "别处", "取消"]
    r = chat.tap("别处")
    assert r.state == "waiting_confirm" and "31.235180,121.480000" in texts(r)[-1]
    row = _row(orders, chat.tap("确认").order_id)
    assert (row["site_id"], row["place_source"], row["coord_datum"], row["latitude"]) == (
        None,
        "shared",
        "gcj02",
        31.23518,
    )


@pytest.mark.parametrize("platform", ["wecom", "slack"])
def test_near_no_site_goes_on_as_today(
    make_engine: Callable[..., Conversation], orders: SqlWorkOrders, platform: str
) -> None:
    chat = _chat(make_engine, orders, platform)
    r = chat.location("", 31.30, 121.50)
    assert r.state == "waiting_confirm" and list(chat.buttons()) == ["确认", "取消"]
    row = _row(orders, chat.tap("确认").order_id)
    assert row["coord_datum"] == ("gcj02" if platform == "wecom" else "wgs84") and row["site_id"] is None
