"""``结单`` with several open orders: the list is numbered, and ``结单 2`` or ``结单 7KQ2M`` (the id's last
five characters) pick one, as the list says."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bot.dialogue import intents
from bot.dialogue.engine import Conversation
from bot.replies import say
from tests.support.admin import report_order
from tests.support.engine import Chat


@pytest.fixture
def chat(make_engine: Callable[..., Conversation]) -> Chat:
    return Chat(make_engine())


def test_the_list_is_numbered_and_a_number_picks_from_it(chat: Chat) -> None:
    older, newer = report_order(chat, seed=1), report_order(chat, seed=2)
    listed = chat.text("结单").replies[0].text
    assert f"1. {newer}" in listed and f"2. {older}" in listed  # newest first, as open_for gives them
    picked = chat.text("结单 2")
    assert picked.state == "waiting_close_photo"
    assert older in picked.replies[0].text


def test_the_last_five_characters_pick_an_order(chat: Chat) -> None:
    report_order(chat, seed=1)
    wanted = report_order(chat, seed=2)
    picked = chat.text(f"close {wanted[-5:].lower()}")
    assert picked.state == "waiting_close_photo" and wanted in picked.replies[0].text


@pytest.mark.parametrize("ref", ["3", "ZZZZZ"])
def test_a_reference_that_names_no_open_order_is_not_found(chat: Chat, ref: str) -> None:
    report_order(chat, seed=1)
    report_order(chat, seed=2)
    refused = chat.text(f"结单 {ref}")
    assert refused.state == "idle"
    assert [r.text for r in refused.replies] == [say("zh", "order_ref_unknown", ref=ref)]


def test_only_order_ids_alphabet_counts_as_a_suffix() -> None:
    assert intents.parse("结单 7KQ2M") == intents.Intent("close", "7KQ2M")
    assert intents.parse("close 12") == intents.Intent("close", "12")
    assert intents.parse("close today").name == "text"  # "O" is not in an order id
    assert intents.parse("结单 WO-20261121-7KQ2M") == intents.Intent("close", "WO-20261121-7KQ2M")
