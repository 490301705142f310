"""What a newcomer hit in a trial, each fixed: asked instead of guessed, short ids, and sentences that say the truth."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bot.adapters.redis.store import SessionStore
from bot.adapters.sql.orders import SqlWorkOrders
from bot.adapters.storage import LocalFolderStore
from bot.config import DEFAULT_ALARM_TYPES, Settings
from bot.dialogue.engine import Conversation
from bot.orders.duty_card import duty_card
from bot.replies import say
from tests.support.admin import AUTH, admin_app, report_order, runtime
from tests.support.conversation import ScriptedVlm
from tests.support.engine import Chat, photo

TYPES = "\n".join(f"{n}. {t}" for n, t in enumerate(DEFAULT_ALARM_TYPES["zh"], 1))
T0 = 1_800_000_000.0


def texts(result: object) -> list[str]:
    return [r.text for r in result.replies]  # type: ignore[attr-defined]


@pytest.fixture
def chat(make_engine: Callable[..., Conversation]) -> Chat:
    return Chat(make_engine())


# -- the type typed from the bot's own list -----------------------------------------------------------------
@pytest.mark.parametrize("typed", ["漏水", "类型 漏水", "渗水", "water leak", "leaking"])
def test_a_type_typed_while_the_type_is_asked_is_taken_and_acknowledged(chat: Chat, typed: str) -> None:
    chat.image(photo(1))
    r = chat.text(typed)
    assert texts(r) == [say("zh", "type_set", alarm_type="漏水"), say("zh", "ask_location")]


def test_type_x_while_waiting_for_the_place_sets_the_type_never_the_place(chat: Chat) -> None:
    chat.image(photo(1))
    chat.tap("火情/烟雾")
    r = chat.text("类型 漏水")
    assert r.waiting_for == "location" and texts(r)[0] == say("zh", "type_set", alarm_type="漏水")


# -- small talk, the photo, urgency and ways out while the place is asked: never the place ----------------------
@pytest.mark.parametrize(
    ("typed", "answer"),
    [
        ("稍等", "ack_wait"),
        ("hold on", "ack_wait"),
        ("谢谢", "ack_thanks"),
        ("收到", "ack_got_it"),
        ("你好", "ack_greeting"),
        ("我不在现场", "rough_is_fine"),
        ("重新拍", "send_new_photo"),
        ("发错了", "send_new_photo"),
        ("很急", "note_added"),
    ],
)
def test_small_talk_at_the_place_question_is_answered_and_the_place_asked_again(
    chat: Chat, orders: SqlWorkOrders, typed: str, answer: str
) -> None:
    chat.image(photo(1))
    chat.tap("漏水")
    r = chat.text(typed)
    assert texts(r) == [say("zh", answer), say("zh", "ask_location")] and r.waiting_for == "location"
    assert list(chat.buttons()) == [say("zh", "choice_cancel")]
    chat.text("3号楼东门")
    order = orders.get(chat.text("好滴").order_id)  # a yes with its soft end confirms
    assert order is not None and order.location_text == "3号楼东门"
    assert order.note == ("很急" if typed == "很急" else "")  # urgency goes on the order as the reporter's note


@pytest.mark.parametrize("typed", ["取消报修", "不用报了", "cancel it", "stop it"])
@pytest.mark.parametrize("where", ["type", "place", "summary", "close"])
def test_every_way_of_saying_cancel_cancels_wherever_cancel_is_open(chat: Chat, typed: str, where: str) -> None:
    if where == "close":
        chat.text(f"结单 {report_order(chat)}")
    else:
        chat.image(photo(1))
        if where != "type":
            chat.tap("漏水")
        if where == "summary":
            chat.text("3号楼东门")
    r = chat.text(typed)
    assert texts(r) == [say("zh", "cancelled")] and r.state == "idle"


# -- the summary never takes a text as the place without asking ---------------------------------------------
def test_a_typo_d_confirm_at_the_summary_confirms_and_a_stray_text_is_asked_about(
    chat: Chat, orders: SqlWorkOrders
) -> None:
    chat.image(photo(1))
    chat.tap("漏水")
    chat.text("3号楼东门")
    r = chat.text("东边那个")  # not a command: "change the place to «东边那个»?" [Change place] [Keep 3号楼东门]
    assert texts(r) == [say("zh", "place_check_change", place="东边那个", current="3号楼东门")]
    keep = say("zh", "choice_keep_place", place="3号楼东门")
    assert list(chat.buttons()) == [say("zh", "choice_change_place"), keep, say("zh", "choice_cancel")]
    r = chat.tap(keep)
    assert texts(r)[0] == say("zh", "place_kept") and "3号楼东门" in texts(r)[1]
    r = chat.text("确 认")
    assert r.order_id and orders.get(r.order_id).location_text == "3号楼东门"  # type: ignore[union-attr]


def test_no_at_the_summary_asks_what_to_change_and_change_place_asks_where_again(chat: Chat) -> None:
    chat.image(photo(1))
    chat.tap("漏水")
    chat.text("3号楼东门")
    r = chat.text("不对")
    assert texts(r) == [say("zh", "what_to_change")]
    r = chat.tap(say("zh", "choice_change_place"))
    assert r.state == "waiting_location" and texts(r) == [say("zh", "ask_location")]
    r = chat.text("4号楼西门")
    assert r.state == "waiting_confirm" and "4号楼西门" in texts(r)[0]


def test_a_question_while_waiting_for_the_place_is_asked_about_and_no_keeps_asking_where(chat: Chat) -> None:
    chat.image(photo(1))
    chat.tap("漏水")
    r = chat.text("怎么填位置？")
    assert texts(r) == [say("zh", "place_check_new", place="怎么填位置?")] and r.waiting_for == "place_check"
    assert "状态" and texts(chat.text("状态"))[0] == say("zh", "status_place_check")
    r = chat.tap(say("zh", "choice_place_no"))
    assert texts(r) == [say("zh", "place_not_taken"), say("zh", "ask_location")]


# -- order ids in every short form ----------------------------------------------------------------------------
def test_an_order_is_looked_up_by_its_last_five_characters_and_by_its_list_number(chat: Chat) -> None:
    first = report_order(chat, seed=1)
    second = report_order(chat, seed=2)
    assert first in texts(chat.text(f"查工单 {first[-5:].lower()}"))[0]
    listed = texts(chat.text("我的工单"))[0]
    assert f"1. {second}" in listed and f"2. {first}" in listed  # newest first, numbered
    assert texts(chat.text("查工单 2"))[0].startswith(f"工单 {first}")
    assert texts(chat.text("order 1"))[0].startswith(f"工单 {second}")


def test_a_command_without_an_order_asks_which_with_the_open_orders_as_buttons(
    chat: Chat, orders: SqlWorkOrders
) -> None:
    first = report_order(chat, seed=1)
    second = report_order(chat, seed=2)
    r = chat.text("查工单")
    assert texts(r)[0].startswith(say("zh", "order_which", orders="")) and len(r.choices) == 2
    assert texts(chat.tap(say("zh", "choice_order", short=first[-5:], what="火情/烟雾")))[0].startswith(f"工单 {first}")
    r = chat.text("取消工单")
    assert texts(r)[0].startswith(say("zh", "withdraw_which", orders=""))
    r = chat.text("2")  # its number in the list just shown
    assert texts(r) == [say("zh", "withdrawn", order_id=first)]
    assert orders.get(first).status == "cancelled" and orders.get(second).status == "open"  # type: ignore[union-attr]


def test_without_open_orders_a_bare_command_says_how_to_name_one(chat: Chat) -> None:
    assert texts(chat.text("查工单")) == [say("zh", "order_which_none")]
    assert texts(chat.text("认领")) == [say("zh", "claim_which")]


# -- sentences that say the truth -----------------------------------------------------------------------------
def test_a_withdrawn_order_reads_as_withdrawn_in_the_users_language(chat: Chat) -> None:
    order_id = report_order(chat)
    chat.text(f"取消工单 {order_id}")
    again = texts(chat.text(f"取消工单 {order_id}"))[0]
    assert again == f"工单 {order_id} 当前状态：已取消，无法撤回。" and "已已" not in again
    shown = texts(chat.text(f"查工单 {order_id}"))[0]
    assert "取消：" in shown and "（报告人撤回）" in shown
    assert "cancelled by reporter" not in shown and "结单：" not in shown


def test_a_duty_card_says_a_withdrawn_order_in_the_cards_language(
    chat: Chat, orders: SqlWorkOrders, settings: Settings
) -> None:
    order_id = report_order(chat)
    chat.text(f"取消工单 {order_id}")
    card = duty_card(orders.get(order_id), settings)  # type: ignore[arg-type]
    assert "已取消：报告人撤回" in card.text and "cancelled by reporter" not in card.text


def test_a_place_given_only_as_coordinates_is_shown_as_coordinates(chat: Chat) -> None:
    chat.image(photo(1))
    chat.tap("漏水")
    chat.location("", 31.2304, 121.4737)
    order_id = chat.text("确认").order_id
    assert "31.230400,121.473700" in texts(chat.text(f"查工单 {order_id}"))[0]
    assert "31.230400,121.473700" in texts(chat.text("我的工单"))[0]


def test_the_same_problem_question_says_just_now_and_names_its_own_buttons(
    make_engine: Callable[..., Conversation],
) -> None:
    engine = make_engine()
    first, second = Chat(engine, user="u1"), Chat(engine, user="u2")
    report_order(first)
    second.image(photo(9))
    second.text("1")
    r = second.text("1号楼东侧走廊")
    said = "\n".join(texts(r))
    assert "刚刚报修" in said and "0 分钟" not in said
    assert "点“确认”" not in said  # its buttons are Same / New order / Cancel, and the text says so
    assert list(second.buttons()) == [
        say("zh", "choice_same"),
        say("zh", "choice_new_order"),
        say("zh", "choice_cancel"),
    ]
    assert "“同一个”" in said and "“新建工单”" in said


def test_a_second_photo_of_a_burst_without_a_vlm_is_added_without_listing_every_type_again(
    make_engine: Callable[..., Conversation], settings: Settings
) -> None:
    chat = Chat(make_engine(settings=settings.with_(photo_burst_seconds=8.0)))
    first = chat.image(photo(1), sent_at=T0)
    assert texts(first)[-1] == say("zh", "ask_type", choices=TYPES)
    r = chat.image(photo(2), sent_at=T0 + 2)
    assert texts(r) == [say("zh", "photo_added_plain", count=2), say("zh", "type_still_needed")]
    assert "一起识别" not in "".join(texts(r)) and len(r.choices) == len(DEFAULT_ALARM_TYPES["zh"]) + 1


def test_with_a_vlm_a_burst_still_says_the_photos_are_analysed_together(
    make_engine: Callable[..., Conversation], settings: Settings
) -> None:
    chat = Chat(make_engine(settings=settings.with_(photo_burst_seconds=8.0), vlm=ScriptedVlm()))
    chat.image(photo(1), sent_at=T0)
    assert texts(chat.image(photo(2), sent_at=T0 + 2))[0] == say("zh", "photo_added", count=2)


def test_a_stale_tap_while_closing_asks_for_the_fix_photo_again(chat: Chat) -> None:
    order_id = report_order(chat)
    card = chat.image(photo(1))  # "a new report, or the fix of …?"
    chat.text("取消")
    chat.text(f"结单 {order_id}")
    r = chat.tap(say("zh", "choice_new"), card)
    assert r.stale and texts(r) == [say("zh", "choice_closed"), say("zh", "expect_close_photo", order_id=order_id)]


def test_after_ops_shortened_a_session_its_expiry_names_the_time_it_had(
    settings: Settings, fake_store: SessionStore, storage: LocalFolderStore, orders: SqlWorkOrders
) -> None:
    app = admin_app(settings, fake_store, storage, orders)
    user = Chat(runtime(app).engine, user="zhangsan", platform="generic")
    user.image(photo(1))
    put = app.test_client().put(f"/admin/api/sessions/{user.key}/ttl", headers=AUTH, json={"seconds": 60})
    assert put.json == {"key": user.key, "seconds_left": 60}
    fake_store.redis.delete(fake_store.session_redis_key(user.key))  # what the TTL does a minute later
    said = texts(user.text("配电房"))[0]
    assert said == "之前的报修因 1 分钟未操作已过期，需要的话请重新开始。" and "10 分钟" not in said
