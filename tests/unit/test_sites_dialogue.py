"""Typed places landed on the registry's sites, in the conversation: one clear match, several close, none; in
Chinese, English and pinyin; and a tenant without sites as before. Asserts what the user sees and the order row."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select

from bot.adapters.sql.orders import SqlWorkOrders
from bot.adapters.sql.tables import work_orders
from bot.config import Settings
from bot.dialogue.engine import Conversation
from bot.replies import say
from tests.support.conversation import pic, texts
from tests.support.engine import Chat
from tests.support.sites import campus


@pytest.fixture
def site_chat(make_engine: Callable[..., Conversation], orders: SqlWorkOrders) -> Chat:
    return Chat(make_engine(sites=campus(orders)))


def _to_place(chat: Chat) -> None:
    assert chat.image(pic(1)).state == "waiting_location"
    assert chat.text("2").state == "waiting_location"  # 漏水


def _row(orders: SqlWorkOrders, order_id: str) -> dict[str, object]:
    with orders.engine.connect() as conn:
        row = conn.execute(select(work_orders).where(work_orders.c.id == order_id)).one()
    return dict(row._mapping)


def _summary_place(value: str) -> str:
    return say("zh", "summary_location", value=value)


def test_one_clear_match_uses_the_site_and_keeps_the_words(site_chat: Chat, orders: SqlWorkOrders) -> None:
    _to_place(site_chat)
    r = site_chat.text("东门 3号楼")
    assert r.state == "waiting_confirm"
    shown = say("zh", "site_place_with_zone", place="3号楼东门（你写的：东门 3号楼）", zone="east")
    assert _summary_place(shown) in texts(r)[0]
    done = site_chat.text("确认")
    row = _row(orders, done.order_id)
    assert (row["site_id"], row["site_name"], row["zone"], row["place_source"]) == (
        "B3-E",
        "3号楼东门",
        "east",
        "matched",
    )
    assert row["location_text"] == "东门 3号楼"  # the worker's words are kept
    listed = site_chat.text("我的工单")
    assert "3号楼东门" in texts(listed)[0] and "东门 3号楼" not in texts(listed)[0]


@pytest.mark.parametrize(
    ("typed", "site_id"),
    [
        ("B3 east gate", "B3-E"),
        ("3haolou dongmen", "B3-E"),
        ("水泵房", "B5-P"),
        ("3號樓東門", "B3-E"),
        ("前台", "LOBBY"),
    ],
)
def test_english_pinyin_aliases_and_traditional_characters_land_on_the_site(
    site_chat: Chat, orders: SqlWorkOrders, typed: str, site_id: str
) -> None:
    _to_place(site_chat)
    assert site_chat.text(typed).state == "waiting_confirm"
    assert _row(orders, site_chat.text("确认").order_id)["site_id"] == site_id


def test_several_close_sites_are_offered_as_buttons_with_use_my_words(site_chat: Chat, orders: SqlWorkOrders) -> None:
    _to_place(site_chat)
    r = site_chat.text("gate")
    assert r.state == "waiting_location"
    assert texts(r) == [say("zh", "site_which", words="gate")]
    assert list(site_chat.buttons()) == ["1. 3号楼东门", "2. 3号楼西门", "用我的原话", "取消"]
    r = site_chat.tap("2. 3号楼西门")
    assert r.state == "waiting_confirm"
    assert (
        _summary_place(say("zh", "site_place_with_zone", place="3号楼西门（你写的：gate）", zone="east")) in texts(r)[0]
    )
    assert _row(orders, site_chat.text("确认").order_id)["site_id"] == "B3-W"


def test_use_my_words_keeps_the_text_on_no_site(site_chat: Chat, orders: SqlWorkOrders) -> None:
    _to_place(site_chat)
    site_chat.text("gate")
    r = site_chat.tap("用我的原话")
    assert r.state == "waiting_confirm" and _summary_place("gate") in texts(r)[0]
    row = _row(orders, site_chat.text("确认").order_id)
    assert (row["site_id"], row["location_text"], row["place_source"]) == (None, "gate", "typed")


def test_no_match_keeps_the_text_as_today(site_chat: Chat, orders: SqlWorkOrders) -> None:
    _to_place(site_chat)
    r = site_chat.text("停车场入口")
    assert r.state == "waiting_confirm" and _summary_place("停车场入口") in texts(r)[0]
    assert _row(orders, site_chat.text("确认").order_id)["site_id"] is None


def test_a_tenant_without_sites_works_as_before(chat: Chat, orders: SqlWorkOrders) -> None:
    _to_place(chat)
    r = chat.text("3号楼东门")
    assert r.state == "waiting_confirm" and _summary_place("3号楼东门") in texts(r)[0]
    row = _row(orders, chat.text("确认").order_id)
    assert (row["site_id"], row["location_text"], row["place_source"]) == (None, "3号楼东门", "typed")


def test_another_tenants_registry_is_not_used(make_engine: Callable[..., Conversation], orders: SqlWorkOrders) -> None:
    other = Chat(make_engine(sites=campus(orders)), tenant="t2")
    _to_place(other)
    assert _row(orders, (other.text("3号楼东门"), other.text("确认"))[1].order_id)["site_id"] is None


def test_another_place_typed_while_sites_are_offered_answers_the_question(
    site_chat: Chat, orders: SqlWorkOrders
) -> None:
    _to_place(site_chat)
    site_chat.text("gate")
    r = site_chat.text("停车场入口")
    assert r.state == "waiting_confirm" and list(site_chat.buttons()) == ["确认", "取消"]
    assert _row(orders, site_chat.text("确认").order_id)["location_text"] == "停车场入口"


def test_in_english_one_several_and_no_match(
    make_engine: Callable[..., Conversation], orders: SqlWorkOrders, settings: Settings
) -> None:
    engine = make_engine(settings=settings.with_(language="en"), sites=campus(orders))
    for user, typed in (("one", "east gate B3"), ("several", "gate"), ("none", "car park")):
        chat = Chat(engine, user=user)
        chat.image(pic(1))
        chat.text("2")
        r = chat.text(typed)
        if user == "one":
            shown = say("en", "site_place_with_zone", place="3号楼东门 (you wrote: east gate B3)", zone="east")
            assert say("en", "summary_location", value=shown) in texts(r)[0]
        elif user == "several":
            assert texts(r) == [say("en", "site_which", words="gate")]
            assert list(chat.buttons()) == ["1. 3号楼东门", "2. 3号楼西门", "Use my words", "Cancel"]
        else:
            assert say("en", "summary_location", value="car park") in texts(r)[0]
