"""What ops read as "waiting for" is what the bot accepts: for every state and pending combination,
the step ``bot.dialogue.next_step`` names moves the session on, and "confirm" is taken exactly when it is named."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any, get_args

import pytest

from bot.adapters.redis.store import SessionStore
from bot.adapters.storage import LocalFolderStore
from bot.config import DEFAULT_ALARM_TYPES
from bot.dialogue.engine import Conversation
from bot.dialogue.machine import CLOSE_PHOTO, CONFIRM, IDLE, LOCATION
from bot.dialogue.next_step import Need, next_step, next_steps
from bot.replies import catalogue, say
from bot.session import Session
from handlers.web.admin.views import waiting_for
from tests.support.admin import report_order
from tests.support.engine import Chat, photo

TYPE_LIST = "\n".join(f"{i}. {t}" for i, t in enumerate(DEFAULT_ALARM_TYPES["zh"], 1))
REPORT_PENDING = [
    {k: v for k, v in combo if v is not None}
    for combo in itertools.product(
        [("alarm_type", None), ("alarm_type", "漏水")],
        [
            ("location", None),
            ("location", {"label": "B1 车库"}),
            ("location", {"label": "", "latitude": 31.2, "longitude": 121.4}),
        ],
        [("analysis_failed", None), ("analysis_failed", "off"), ("analysis_failed", "error")],
        [("alarm_id", None), ("alarm_id", "ALM-7")],
    )
]


@pytest.fixture
def engine(make_engine: Callable[..., Conversation]) -> Conversation:
    return make_engine()


def seeded(store: SessionStore, chat: Chat, state: str, pending: dict[str, Any]) -> None:
    store.save(Session(key=chat.key, state=state, pending=dict(pending)))


def accepted(engine: Conversation, store: SessionStore, chat: Chat, need: str) -> bool:
    """Send the input ``need`` names and say whether the bot took it (rather than refusing or ignoring it)."""
    if need == "location":
        return chat.text("3号楼东门").state == CONFIRM
    if need == "alarm_type":
        chat.text("2")
        session = store.load(chat.key)
        return session is not None and session.pending.get("alarm_type") == "漏水"
    if need == "confirm":
        return chat.text("确认").order_id is not None
    if need == "close_photo":
        return chat.image(photo(42)).order_id is not None
    raise AssertionError(need)


@pytest.mark.parametrize("state", [LOCATION, CONFIRM])
@pytest.mark.parametrize("pending", REPORT_PENDING, ids=lambda p: ",".join(sorted(p)) or "nothing")
def test_the_named_step_is_taken_and_confirm_only_when_named(
    engine: Conversation, fake_store: SessionStore, storage: LocalFolderStore, state: str, pending: dict[str, Any]
) -> None:
    chat = Chat(engine)
    pending = {**pending, "image_key": storage.put(photo(1), "image/jpeg"), "image_type": "image/jpeg"}
    step = next_step(state, pending)
    assert step is not None
    for need in ("location", "alarm_type", "confirm"):
        seeded(fake_store, chat, state, pending)
        took = accepted(engine, fake_store, chat, need)
        if need == step:
            assert took, f"{state} {pending}: the bot refused {need}, the step it names"
        if need == "confirm":
            assert took is (step == "confirm"), f"{state} {pending}: confirm taken={took}, next step {step}"


@pytest.mark.parametrize("pending", REPORT_PENDING, ids=lambda p: ",".join(sorted(p)) or "nothing")
def test_the_summary_and_status_say_the_same_next_step(
    engine: Conversation, fake_store: SessionStore, storage: LocalFolderStore, pending: dict[str, Any]
) -> None:
    chat = Chat(engine)
    pending = {**pending, "image_key": storage.put(photo(1), "image/jpeg")}
    seeded(fake_store, chat, CONFIRM, pending)
    replies = [r.text for r in chat.text("状态").replies]
    step = next_step(CONFIRM, pending)
    asks_confirm = say("zh", "choice_confirm") in chat.buttons()
    lists_types = replies[1:] == [say("zh", "ask_type", choices=TYPE_LIST)]
    assert asks_confirm is (step == "confirm") and lists_types is (step == "alarm_type")
    assert replies[0] == say("zh", f"status_{step}")


def test_every_open_question_has_its_help_status_and_admin_words() -> None:
    # the question asked, "帮助", "状态" and the admin page's "waiting for" are read from one list of steps
    asked_in_a_flow = set(get_args(Need)) - {"photo", "photo_use"}  # "photo" is a condition's; photo_use repeats
    sentences = catalogue()
    for step in asked_in_a_flow:
        assert f"help_{step}" in sentences and f"status_{step}" in sentences, step
    for step in get_args(Need):
        assert waiting_for([step], None), step


def test_a_close_waits_for_the_photo_of_the_fix(engine: Conversation, fake_store: SessionStore) -> None:
    chat = Chat(engine)
    order_id = report_order(chat)
    seeded(fake_store, chat, CLOSE_PHOTO, {"order_id": order_id})
    assert next_steps(CLOSE_PHOTO, {"order_id": order_id}) == ["close_photo"]
    assert waiting_for(["close_photo"], order_id) == f"a photo of the fixed site for {order_id}"
    assert accepted(engine, fake_store, chat, "close_photo")


def test_idle_waits_for_nothing_and_a_photo_starts_a_report(engine: Conversation) -> None:
    chat = Chat(engine)
    assert next_steps(IDLE, {}) == [] and waiting_for([], None) is None
    assert chat.image(photo(3)).state == LOCATION


def test_the_whole_path_is_named_in_order() -> None:
    # the type is asked before the place: one question per turn, in the order a field worker expects
    assert next_steps(LOCATION, {"image_key": "k"}) == ["alarm_type", "location", "confirm"]
    assert next_steps(LOCATION, {"image_key": "k", "alarm_type": "漏水"}) == ["location", "confirm"]
    assert next_steps(CONFIRM, {"image_key": "k"}) == ["alarm_type", "confirm"]
    assert next_steps(CONFIRM, {"image_key": "k", "alarm_type": "漏水"}) == ["confirm"]
    words = waiting_for(["alarm_type", "confirm"], None)
    assert words == "the alarm type (confirm is refused until one is chosen), then: confirm"
