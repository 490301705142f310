"""The commands "help" lists for working a claimed order do what it says, as typed, in both languages: the help
text is the only manual a technician in the field reads."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bot.adapters.sql.orders import SqlWorkOrders
from bot.config import Settings
from bot.dialogue.engine import Conversation
from bot.ports import Reporter
from bot.replies import say
from tests.support.conversation import report, texts
from tests.support.engine import Chat

# (typed, what the assignee hears) in the order a day's work goes; {ref}: the order id's last five characters
MOVES = {
    "zh": [
        ("开始 {ref}", "did_start"),
        ("挂起 {ref} 等配件", "did_hold"),
        ("恢复 {ref}", "did_resume"),
        ("备注 {ref} 阀门已订", "did_note"),
        ("退回 {ref}", "did_unclaim"),
    ],
    "en": [
        ("start {ref}", "did_start"),
        ("hold {ref} waiting for parts", "did_hold"),
        ("resume {ref}", "did_resume"),
        ("note {ref} valve ordered", "did_note"),
        ("unclaim {ref}", "did_unclaim"),
    ],
}


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_move_the_help_lists_works_as_typed(
    lang: str, settings: Settings, make_engine: Callable[..., Conversation], orders: SqlWorkOrders
) -> None:
    engine = make_engine(settings=settings.with_(language=lang))
    order_id = report(Chat(engine, user="reporter"))
    tech = Chat(engine, user="tech")
    orders.claim(order_id, Reporter("test", "t1", "tech"))
    help_text = texts(tech.text("帮助" if lang == "zh" else "help"))[0]
    for typed, heard in MOVES[lang]:
        assert typed.split(" ")[0] in help_text, typed  # listed in the help
        answer = texts(tech.text(typed.format(ref=order_id[-5:])))
        expected = say(lang, heard, order_id=order_id, reason=say(lang, "hold_parts"))
        assert answer[0] == expected, (typed, answer)
    moved = orders.get(order_id)
    assert moved is not None and moved.life == "open" and moved.assignee is None  # unclaimed: back in the pool
