"""A turn's scripts go straight to a connection of the thread (``bot.redis_direct.Line``); when that
connection breaks, the turn is sent the ordinary way and the user notices nothing. Real Redis."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bot.conversation import Conversation
from bot.store import SessionStore
from tests.support.engine import Chat

pytestmark = pytest.mark.integration


def _direct_connection_id(store: SessionStore) -> int:
    assert store.line._pool is not None  # a plain client: the direct path is on
    connection = store.line._local.conn
    assert connection is not None
    connection.send_command("CLIENT", "ID")
    return int(connection.read_response())


def test_turns_run_on_the_thread_s_own_connection_and_survive_its_loss(
    make_engine: Callable[..., Conversation], real_store: SessionStore
) -> None:
    chat = Chat(make_engine(store=real_store), user="direct-1")
    usual = [reply.text for reply in chat.text("help").replies]
    assert usual
    first = _direct_connection_id(real_store)
    chat.text("help")
    assert _direct_connection_id(real_store) == first  # kept between turns: no pool checkout per round trip

    real_store.redis.execute_command("CLIENT", "KILL", "ID", str(first))  # Redis drops it (a restart, a timeout)
    answer = chat.text("help")  # sent the ordinary way, with redis-py's retries
    assert [reply.text for reply in answer.replies] == usual

    chat.text("help")
    assert _direct_connection_id(real_store) != first  # a fresh connection from then on
    session = real_store.load("test:t1:direct-1")
    assert session is not None and session.turns == 4  # every turn saved once
