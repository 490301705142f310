"""Tap, don't type: the engine's buttons, one question per turn, and a photo sent before "close".

Each test drives the engine as a field worker would: tapping the buttons the bot's last answer carries
(``Chat.tap`` finds one by its label and sends back its id, as every platform's card does).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bot.adapters.redis.store import SessionStore
from bot.adapters.sql.orders import SqlWorkOrders
from bot.config import DEFAULT_ALARM_TYPES, Settings
from bot.dialogue.engine import Conversation
from bot.ports import Analysis
from bot.replies import say
from tests.support.admin import report_order
from tests.support.conversation import ScriptedVlm
from tests.support.engine import Chat, photo

TYPES = "\n".join(f"{i}. {t}" for i, t in enumerate(DEFAULT_ALARM_TYPES["zh"], 1))
CONFIRM, CANCEL, NEW = (say("zh", name) for name in ("choice_confirm", "choice_cancel", "choice_new"))


def texts(result: object) -> list[str]:
    return [r.text for r in result.replies]  # type: ignore[attr-defined]


def files(settings: Settings) -> list[Path]:
    return [p for p in Path(settings.storage_dir).rglob("*") if p.is_file()]


@pytest.fixture
def chat(make_engine: Callable[..., Conversation]) -> Chat:
    return Chat(make_engine())


@pytest.fixture
def vlm_chat(make_engine: Callable[..., Conversation]) -> Chat:
    return Chat(make_engine(vlm=ScriptedVlm()))


# -- a report in three actions ------------------------------------------------------------------------------
def test_with_a_vlm_a_report_is_photo_place_tap(vlm_chat: Chat, orders: SqlWorkOrders) -> None:
    r = vlm_chat.image(photo(1))
    assert r.state == "waiting_location" and texts(r)[-1] == say("zh", "ask_location")
    assert list(vlm_chat.buttons()) == [CANCEL]  # one question: where (and a way back)
    r = vlm_chat.location("B2 泵房", 31.2, 121.4)
    assert r.state == "waiting_confirm" and list(vlm_chat.buttons()) == [CONFIRM, CANCEL]
    r = vlm_chat.tap(CONFIRM)
    assert r.state == "idle" and r.order_id and r.picked == CONFIRM
    assert orders.get(r.order_id).alarm_type == "漏水"  # type: ignore[union-attr]


def test_without_a_vlm_the_type_comes_first_then_the_place(chat: Chat, orders: SqlWorkOrders) -> None:
    r = chat.image(photo(1))
    assert texts(r) == [say("zh", "photo_received"), say("zh", "ask_type", choices=TYPES)]
    assert list(chat.buttons()) == [*DEFAULT_ALARM_TYPES["zh"], CANCEL]
    r = chat.tap("电气故障")
    assert texts(r) == [say("zh", "type_set", alarm_type="电气故障"), say("zh", "ask_location")]
    r = chat.text("配电房")
    assert r.state == "waiting_confirm" and "电气故障" in texts(r)[0] and "配电房" in texts(r)[0]
    r = chat.tap(CONFIRM)
    assert orders.get(r.order_id).alarm_type == "电气故障"  # type: ignore[arg-type, union-attr]


def test_a_place_sent_before_the_type_is_kept_and_the_type_is_asked_next(chat: Chat) -> None:
    chat.image(photo(1))
    r = chat.text("车库入口")
    assert r.state == "waiting_confirm"
    assert texts(r) == [say("zh", "ask_type", choices=TYPES)]  # not a summary with "type: not set"
    r = chat.tap("漏水")
    assert "车库入口" in texts(r)[-1] and list(chat.buttons()) == [CONFIRM, CANCEL]
    assert chat.tap(CONFIRM).order_id


# -- taps that are no longer open ---------------------------------------------------------------------------
def test_a_double_tap_makes_one_order_and_the_second_is_told(chat: Chat, orders: SqlWorkOrders) -> None:
    chat.image(photo(1))
    chat.text("1")
    summary = chat.text("大堂")
    first = chat.tap(CONFIRM, summary)
    second = chat.tap(CONFIRM, summary)
    assert first.order_id and second.order_id is None
    assert second.stale and texts(second) == [say("zh", "choice_closed"), say("zh", "idle_text")]
    assert orders.counts()["open"] == 1


def test_a_tap_after_cancel_changes_nothing(chat: Chat, fake_store: SessionStore) -> None:
    chat.image(photo(1))
    card = chat.last
    assert chat.text("取消").state == "idle"
    r = chat.tap("漏水", card)
    assert r.stale and r.state == "idle" and texts(r) == [say("zh", "choice_closed"), say("zh", "idle_text")]
    assert fake_store.load(chat.key).pending == {}  # type: ignore[union-attr]


def test_a_tap_on_a_card_sent_to_someone_else_is_not_theirs(
    chat: Chat, make_engine: Callable[..., Conversation]
) -> None:
    chat.image(photo(1))
    other = Chat(chat.engine, user="u2")
    other.image(photo(2))
    r = other.tap("漏水", chat.last)  # u1's card, tapped by u2
    assert r.stale and r.state == "waiting_location"


@pytest.mark.parametrize("action", ["nonsense", "deadbeef.confirm", "x" * 200, "."])
def test_an_unknown_action_is_answered_not_an_error(chat: Chat, action: str) -> None:
    r = chat.action(action)
    # nothing is open in idle: what the bot can do follows
    assert r.stale and texts(r) == [say("zh", "choice_closed"), say("zh", "idle_text")]


def test_the_same_question_asked_again_keeps_its_buttons_valid(chat: Chat) -> None:
    chat.image(photo(1))
    chat.text("1")
    summary = chat.text("大堂")
    chat.text("状态")  # shows the summary again, with buttons
    assert chat.tap(CONFIRM, summary).order_id  # the first card still works: nothing changed in between


def test_a_changed_report_closes_the_old_cards(chat: Chat) -> None:
    chat.image(photo(1))
    chat.text("1")
    summary = chat.text("大堂")
    chat.text("二楼")  # "change the place to 二楼?": the old summary is not what would be confirmed
    assert chat.tap(CONFIRM, summary).stale
    chat.tap(say("zh", "choice_change_place"))
    assert chat.tap(CONFIRM).order_id


# -- a photo while reporting --------------------------------------------------------------------------------
def test_a_second_photo_while_confirming_keeps_type_and_place_in_one_answer(
    chat: Chat, fake_store: SessionStore, settings: Settings
) -> None:
    chat.image(photo(1))
    chat.tap("漏水")
    chat.text("大堂")
    r = chat.image(photo(2))
    assert r.state == "waiting_confirm"
    summary = texts(r)[-1]
    assert texts(r)[0] == say("zh", "photo_replaced") and len(texts(r)) == 3  # replaced, received, summary
    assert "漏水" in summary and "大堂" in summary and TYPES not in "".join(texts(r))
    assert list(chat.buttons()) == [CONFIRM, CANCEL]
    assert len(files(settings)) == 1  # the first photo is deleted, the new one kept


def test_a_new_photo_keeps_a_chosen_type_over_the_vlm_guess(make_engine: Callable[..., Conversation]) -> None:
    vlm = ScriptedVlm(analyses=[Analysis("漏水", "水渍", "low", 0.5), Analysis("其他", "看不清", "low", 0.2)])
    chat = Chat(make_engine(vlm=vlm))
    chat.image(photo(1))
    chat.text("类型 电气故障")
    chat.text("配电房")
    r = chat.image(photo(2))
    assert "电气故障" in texts(r)[-1] and "看不清" in texts(r)[-1]


# -- a photo in idle from someone with open orders ----------------------------------------------------------
def test_a_photo_with_open_orders_asks_new_or_fix_and_the_fix_closes(
    chat: Chat, orders: SqlWorkOrders, settings: Settings
) -> None:
    order_id = report_order(chat, seed=1)
    stored = len(files(settings))
    r = chat.image(photo(5))
    assert r.state == "idle" and order_id in texts(r)[0]
    label = say("zh", "choice_order", short=order_id[-5:], what="火情/烟雾")
    assert list(chat.buttons()) == [label, NEW, CANCEL]
    r = chat.tap(label)
    assert r.state == "idle" and r.order_id == order_id
    assert texts(r) == [say("zh", "close_unverified", order_id=order_id)]
    closed = orders.get(order_id)
    assert closed is not None and closed.status == "closed"
    assert len(files(settings)) == stored + 1  # the photo was stored once, and is the close photo
    assert closed.close_photo_key and Path(settings.storage_dir, closed.close_photo_key).read_bytes() == photo(5)


def test_new_report_uses_the_held_photo_without_storing_it_again(chat: Chat, settings: Settings) -> None:
    report_order(chat, seed=1)
    stored = len(files(settings))
    chat.image(photo(5))
    r = chat.tap(NEW)
    assert r.state == "waiting_location" and DEFAULT_ALARM_TYPES["zh"][0] in chat.buttons()
    assert len(files(settings)) == stored + 1


def test_typing_close_after_the_photo_uses_it(chat: Chat, orders: SqlWorkOrders) -> None:
    order_id = report_order(chat, seed=1)
    chat.image(photo(5))
    r = chat.text("结单")
    assert r.order_id == order_id and orders.get(order_id).status == "closed"  # type: ignore[union-attr]


def test_the_held_photo_is_dropped_by_cancel(chat: Chat, settings: Settings) -> None:
    report_order(chat, seed=1)
    stored = len(files(settings))
    chat.image(photo(5))
    assert texts(chat.tap(CANCEL)) == [say("zh", "cancelled")]
    assert len(files(settings)) == stored


def test_the_same_photo_as_the_report_is_refused_and_the_next_photo_closes(chat: Chat, settings: Settings) -> None:
    order_id = report_order(chat, seed=1)
    chat.image(photo(1))  # the report photo again
    r = chat.tap(say("zh", "choice_order", short=order_id[-5:], what="火情/烟雾"))
    assert r.state == "waiting_close_photo" and texts(r) == [say("zh", "close_same_photo")]
    assert chat.image(photo(6)).order_id == order_id


def test_other_text_while_a_photo_is_held_asks_again(chat: Chat) -> None:
    report_order(chat, seed=1)
    question = chat.image(photo(5))
    again = chat.text("嗯？")
    assert texts(again) == texts(question) and chat.buttons(again) == chat.buttons(question)


# -- which order to close -----------------------------------------------------------------------------------
def test_several_open_orders_are_offered_as_buttons_and_a_bare_number_picks(chat: Chat) -> None:
    older, newer = report_order(chat, seed=1), report_order(chat, seed=2)
    r = chat.text("结单")
    assert [label.split()[0] for label in chat.buttons(r)] == [newer[-5:], older[-5:]]
    assert chat.text("2").state == "waiting_close_photo"
    assert older in texts(chat.last)[0]


def test_a_tapped_order_waits_for_its_photo(chat: Chat) -> None:
    older = report_order(chat, seed=1)
    report_order(chat, seed=2)
    chat.text("结单")
    r = chat.tap(say("zh", "choice_order", short=older[-5:], what="火情/烟雾"))
    assert r.state == "waiting_close_photo" and older in texts(r)[0] and list(chat.buttons()) == [CANCEL]


# -- times and placeholders ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("zone", "offset_hours"), [("Asia/Shanghai", 8), ("UTC", 0), ("America/New_York", -5)])
def test_times_are_shown_in_the_configured_zone(
    make_engine: Callable[..., Conversation], settings: Settings, zone: str, offset_hours: int
) -> None:
    chat = Chat(make_engine(settings=settings.with_(timezone=zone)))
    order_id = report_order(chat)
    order = chat.engine.services.orders.get(order_id)
    assert order is not None
    from zoneinfo import ZoneInfo

    shown = order.created_at.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")
    assert shown in texts(chat.text(f"查工单 {order_id}"))[0]
    assert shown in texts(chat.text("我的工单"))[0]
    assert "UTC" not in texts(chat.text(f"查工单 {order_id}"))[0] or zone == "UTC"


def test_an_order_without_place_or_reason_shows_no_placeholder(chat: Chat, orders: SqlWorkOrders) -> None:
    order_id = report_order(chat)
    chat.text(f"结单 {order_id}")
    closed = texts(chat.image(photo(9)))
    assert closed
    shown = texts(chat.text(f"查工单 {order_id}"))[0]
    assert "（-）" not in shown and "(-)" not in shown and " · - " not in texts(chat.text("我的工单"))[0]


def test_a_bad_timezone_is_refused_naming_the_setting() -> None:
    from bot.config import SettingsError

    with pytest.raises(SettingsError, match="TIMEZONE"):
        Settings(timezone="Mars/Olympus")
