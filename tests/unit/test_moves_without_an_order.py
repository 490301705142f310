"""A move of the order's life typed without its order ("开始", "备注 等配件", "评分 5"): the bot asks which, with the
orders that person may make that move on as buttons, and the tap carries the move out with the words typed. No
order is moved before it is named or tapped."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bot.adapters.sql.orders import SqlWorkOrders
from bot.config import Settings
from bot.dialogue.engine import Conversation
from bot.orders import moves
from bot.ports import Reporter
from bot.replies import say
from tests.support.conversation import report, texts
from tests.support.engine import Chat, photo

TECH = Reporter("test", "t1", "tech")


def button(order_id: str) -> str:
    return say("zh", "choice_order", short=order_id[-5:], what="漏水")


@pytest.fixture
def engine(make_engine: Callable[..., Conversation]) -> Conversation:
    return make_engine()


@pytest.fixture
def reporter(engine: Conversation) -> Chat:
    return Chat(engine, user="reporter")


@pytest.fixture
def tech(engine: Conversation) -> Chat:
    return Chat(engine, user="tech")


def claimed(reporter: Chat, orders: SqlWorkOrders, seed: int) -> str:
    order_id = report(reporter, seed=seed)
    orders.claim(order_id, TECH)
    return order_id


def test_start_with_two_claimed_orders_asks_which_and_moves_only_the_tapped_one(
    reporter: Chat, tech: Chat, orders: SqlWorkOrders
) -> None:
    first, second = claimed(reporter, orders, 1), claimed(reporter, orders, 2)
    report(reporter, seed=3)  # open, claimed by nobody: not the technician's to start
    r = tech.text("开始")
    assert texts(r)[0].startswith(say("zh", "life_which_order", verb="开始处理", orders=""))
    assert list(tech.buttons()) == [button(second), button(first)]  # newest first
    assert {orders.get(first).life, orders.get(second).life} == {"claimed"}  # type: ignore[union-attr]
    assert texts(tech.tap(button(first))) == [say("zh", "did_start", order_id=first)]
    assert orders.get(first).life == "in_progress" and orders.get(second).life == "claimed"  # type: ignore[union-attr]
    assert texts(tech.text("start"))[0].startswith(say("zh", "life_which_order", verb="开始处理", orders=""))
    assert list(tech.buttons()) == [button(second)]  # one order may be started: one tap
    assert texts(tech.text("1")) == [say("zh", "did_start", order_id=second)]  # or its number typed


def test_the_words_after_the_command_are_kept_for_the_tap(
    reporter: Chat, tech: Chat, orders: SqlWorkOrders, settings: Settings
) -> None:
    order_id = claimed(reporter, orders, 1)
    tech.text("备注 等配件，明天到")
    assert texts(tech.tap(button(order_id))) == [say("zh", "did_note", order_id=order_id)]
    notes = [row["detail"]["text"] for row in orders.timeline(order_id) if row["kind"] == "note_added"]
    assert notes == ["等配件，明天到"]  # as typed, its "，" kept
    tech.text("备注 阀门已订")  # not answered: those words are for that question only
    short = order_id[-5:]
    assert texts(tech.text(f"备注 {short}")) == [say("zh", "life_which", example=f"备注 {short} …")]
    tech.text("挂起 等配件")
    assert texts(tech.tap(button(order_id))) == [
        say("zh", "did_hold", order_id=order_id, reason=say("zh", "hold_parts"))
    ]
    tech.text("转交 @lisi")
    assert texts(tech.tap(button(order_id))) == [say("zh", "did_hand_over", order_id=order_id, who="lisi")]
    assert orders.get(order_id).assignee == Reporter("test", "t1", "lisi")  # type: ignore[union-attr]
    lisi = Chat(tech.engine, user="lisi")
    r = lisi.text("恢复")  # handed over: claimed again, nothing on hold to resume
    assert texts(r)[0] == say("zh", "life_none", verb="恢复处理", example="恢复 7KQ2M")
    taker = Chat(tech.engine, user="wangwu")  # a colleague of the duty chat: lisi's order is one to take over
    taker.text("接手")
    assert texts(taker.tap(button(order_id))) == [say("zh", "did_take_over", order_id=order_id)]


def test_the_reporter_confirms_then_rates_the_order_they_reported(
    reporter: Chat, orders: SqlWorkOrders, settings: Settings
) -> None:
    order_id = claimed(reporter, orders, 1)
    other = claimed(reporter, orders, 2)  # claimed, not resolved: nothing to confirm yet
    moves.act(orders, settings, "resolve", order_id, TECH)
    reporter.text("已修好")
    assert list(reporter.buttons()) == [button(order_id)]
    answer = texts(reporter.tap(button(order_id)))
    assert answer == [
        say("zh", "did_confirm", order_id=order_id),
        say("zh", "tell_confirmed_rate", short=order_id[-5:]),
    ]
    reporter.text("评分 5")
    assert list(reporter.buttons()) == [button(order_id)]  # closed and not yet rated
    assert texts(reporter.tap(button(order_id))) == [say("zh", "did_rate")]
    assert orders.get(order_id).rating == 5 and orders.get(other).life == "claimed"  # type: ignore[union-attr]
    assert texts(reporter.text("rate 4"))[0] == say("zh", "life_none", verb="评分", example="评分 7KQ2M 5")


def test_not_fixed_without_words_asks_what_is_wrong_and_with_words_reopens(
    reporter: Chat, orders: SqlWorkOrders, settings: Settings
) -> None:
    order_id = claimed(reporter, orders, 1)
    moves.act(orders, settings, "resolve", order_id, TECH)
    reporter.text("没修好 还在漏水")
    assert texts(reporter.tap(button(order_id))) == [say("zh", "did_reopen", order_id=order_id)]
    reopened = [row for row in orders.timeline(order_id) if row["kind"] == "reopened"]
    assert [row["reason"] for row in reopened] == ["还在漏水"] and orders.get(order_id).life == "claimed"  # type: ignore[union-attr]


def test_with_no_order_to_move_the_bot_says_how_to_name_one_and_asks_its_question_again(tech: Chat) -> None:
    assert texts(tech.text("退回")) == [
        say("zh", "life_none", verb="退回", example="退回 7KQ2M"),
        say("zh", "idle_text"),
    ]
    asked = texts(tech.image(photo(1)))[-1]  # the type is asked
    r = tech.text("开始")  # in the middle of a report: the report's question again
    assert texts(r) == [say("zh", "life_none", verb="开始处理", example="开始 7KQ2M"), asked]
    assert r.waiting_for == "alarm_type" and r.choices


def test_done_without_an_order_offers_the_orders_the_technician_holds(
    reporter: Chat, tech: Chat, orders: SqlWorkOrders
) -> None:
    first, second = claimed(reporter, orders, 1), claimed(reporter, orders, 2)
    r = tech.text("完成")
    assert texts(r)[0].startswith(say("zh", "close_which", orders="")) and set(tech.buttons()) == {
        button(first),
        button(second),
    }
    r = tech.tap(button(first))
    assert r.state == "waiting_close_photo" and first in texts(r)[0]


def test_mid_report_a_number_answers_which_order_and_the_report_goes_on(
    reporter: Chat, tech: Chat, orders: SqlWorkOrders
) -> None:
    first, second = claimed(reporter, orders, 1), claimed(reporter, orders, 2)
    tech.image(photo(9))  # no VLM: the technician's own report asks for its type
    assert tech.text("开始").waiting_for == "alarm_type"  # "which order?" asked; the report is still open
    assert list(tech.buttons()) == [button(second), button(first)]
    r = tech.text("2")  # the second order listed, not the second alarm type
    assert texts(r)[0] == say("zh", "did_start", order_id=first)
    assert orders.get(first).life == "in_progress" and orders.get(second).life == "claimed"  # type: ignore[union-attr]
    assert r.state == "waiting_location" and r.waiting_for == "alarm_type" and len(texts(r)) == 2  # asked again
    assert tech.text("2").waiting_for == "location"  # with the type buttons back, "2" is the second type


@pytest.mark.parametrize(
    ("typed", "move", "words"),
    [("note check the valve", "add_order_note", "check the valve"), ("hold parts", "hold", "parts")],
)
def test_an_english_word_after_the_command_is_the_words_not_an_order(
    reporter: Chat, tech: Chat, orders: SqlWorkOrders, typed: str, move: str, words: str
) -> None:
    order_id = claimed(reporter, orders, 1)
    r = tech.text(typed)  # "CHECK", "PARTS" look like a short id of five letters; no order ends so
    assert texts(r)[0].startswith(say("zh", "life_which_order", verb=say("zh", f"verb_{move}"), orders=""))
    tech.tap(button(order_id))
    order = orders.get(order_id)
    assert order is not None
    if move == "hold":
        assert order.life == "on_hold" and order.hold_reason == words  # "parts": the reason, not an order named so
    else:
        notes = [row["detail"]["text"] for row in orders.timeline(order_id) if row["kind"] == "note_added"]
        assert notes == [words]


def test_not_fixed_answered_in_words_is_one_reopen_and_later_texts_are_not_reopens(
    reporter: Chat, tech: Chat, orders: SqlWorkOrders, settings: Settings
) -> None:
    order_id = claimed(reporter, orders, 1)
    moves.act(orders, settings, "resolve", order_id, TECH)
    short = order_id[-5:]
    assert texts(reporter.text(f"没修好 {short}")) == [say("zh", "reopen_ask", short=short)]
    reporter.text("还在漏水")
    assert orders.get(order_id).reopen_count == 1  # type: ignore[union-attr]
    after = texts(reporter.text("3号楼的灯也坏了"))  # the question was answered: this is chatter in idle
    assert after == [say("zh", "idle_text")] and orders.get(order_id).reopen_count == 1  # type: ignore[union-attr]
