"""Group chats in the engine: one session per user and chat, the bot silent unless spoken to, a flow
answered in the thread it started in. The platforms' payloads are tested in tests/integration."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bot.adapters.redis.store import SessionStore
from bot.adapters.sql.orders import SqlWorkOrders
from bot.adapters.storage import LocalFolderStore
from bot.dialogue.engine import Conversation
from bot.messages import person_key, session_key
from bot.ops import Ops
from bot.replies import say
from handlers.web.admin.views import session_row
from tests.support.conversation import ScriptedVlm
from tests.support.engine import Chat, photo


@pytest.fixture
def engine(make_engine: Callable[..., Conversation]) -> Conversation:
    return make_engine(vlm=ScriptedVlm())


def test_a_group_session_is_keyed_by_user_and_chat() -> None:
    assert session_key("slack", "T1", "U1") == "slack:T1:U1"
    assert session_key("slack", "T1", "U1", "C9") == "slack:T1:U1@C9"
    # a user id that holds '@' (a generic webhook's e-mail) keeps it; the chat comes from the record
    assert person_key("generic:default:a@b.com", "") == "generic:default:a@b.com"
    assert person_key("slack:T1:U1@C9", "C9") == "slack:T1:U1"


def test_chatter_in_a_group_gets_no_answer_and_leaves_nothing(engine: Conversation, fake_store: SessionStore) -> None:
    chat = Chat(engine, user="U1", group="C9")
    for message in ("早上好", "结单", "帮助"):
        r = chat.text(message, addressed=False)
        assert r.replies == [] and r.state == "idle"
    r = chat.image(photo(1), addressed=False)
    assert r.replies == []
    assert fake_store.load(chat.key) is None  # nothing saved, nothing in the ops list


def test_a_mention_starts_a_flow_that_continues_without_one_in_its_thread(
    engine: Conversation, orders: SqlWorkOrders
) -> None:
    chat = Chat(engine, user="U1", group="C9")
    r = chat.image(photo(1), thread="1700.01")
    assert r.state == "waiting_location" and r.thread == "1700.01"
    r = chat.text("B2 泵房", addressed=False, thread="1700.05")  # a reply without a mention continues
    assert r.state == "waiting_confirm" and r.thread == "1700.01"  # answered where the flow began
    r = chat.tap(say("zh", "choice_confirm"))
    assert r.order_id and orders.get(r.order_id) is not None
    # the flow is over: chatter is ignored again
    assert chat.text("谢谢", addressed=False).replies == []


def test_a_report_in_a_group_and_one_in_a_direct_chat_do_not_mix(engine: Conversation) -> None:
    group, direct = Chat(engine, user="U1", group="C9"), Chat(engine, user="U1")
    group.image(photo(1))
    r = direct.image(photo(2))
    assert r.state == "waiting_location" and "photo_replaced" not in str(r.replies)
    group.text("大堂")
    r = direct.text("cancel")
    assert r.state == "idle"
    assert group.text("确认").order_id is not None  # the group's report was untouched by the direct cancel


def test_someone_elses_continuation_in_the_group_is_chatter(engine: Conversation) -> None:
    alice, bob = Chat(engine, user="U1", group="C9"), Chat(engine, user="U2", group="C9")
    alice.image(photo(1))
    assert bob.text("B2 泵房", addressed=False).replies == []  # Bob has no flow open: ignored
    assert alice.text("B2 泵房", addressed=False).state == "waiting_confirm"


def test_ops_find_a_group_session_by_user_id_and_see_its_chat(
    engine: Conversation, fake_store: SessionStore, storage: LocalFolderStore, orders: SqlWorkOrders
) -> None:
    Chat(engine, user="U1", group="C9").image(photo(1))
    Chat(engine, user="U1").text("帮助")
    ops = Ops(engine.settings, fake_store, engine, orders, storage)
    found = sorted(view.session.key for view in ops.sessions_of("U1"))
    assert found == ["test:t1:U1", "test:t1:U1@C9"]
    rows = {row["key"]: row for row in (session_row(v) for v in ops.sessions_of("U1"))}
    assert rows["test:t1:U1@C9"]["user"] == "U1" and rows["test:t1:U1@C9"]["chat"] == "C9"
    assert rows["test:t1:U1"]["chat"] == ""
