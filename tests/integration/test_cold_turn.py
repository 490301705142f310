"""The first message after a session expired costs the same two Redis round trips as any other turn: ``BEGIN``
brings the memory of a flow the session was in, and the save forgets it. Real Redis, round trips counted at
the client (every command or pipeline sent on this thread is one)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import redis

from bot.adapters.redis.direct import Line
from bot.adapters.redis.store import SessionStore
from bot.dialogue.engine import Conversation
from bot.replies import say
from tests.support.engine import Chat, photo

pytestmark = pytest.mark.integration


@contextmanager
def round_trips(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """What this thread sends to Redis, one entry per round trip (the lock heartbeat's thread is not counted)."""
    me, sent = threading.get_ident(), []

    def counted(kind: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def send(self: Any, *args: Any, **kwargs: Any) -> Any:
            if threading.get_ident() == me:
                sent.append(kind if kind != "command" else str(args[0]))
            return original(self, *args, **kwargs)

        return send

    monkeypatch.setattr(Line, "send", counted("line", Line.send))
    monkeypatch.setattr(redis.Redis, "execute_command", counted("command", redis.Redis.execute_command))
    monkeypatch.setattr(redis.client.Pipeline, "execute", counted("pipeline", redis.client.Pipeline.execute))
    yield sent


def test_the_first_message_after_an_expired_flow_is_two_round_trips_and_told_once(
    make_engine: Callable[..., Conversation], real_store: SessionStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    chat = Chat(make_engine(store=real_store), user="cold-1")
    chat.image(photo(1))
    real_store.redis.delete(real_store.session_redis_key(chat.key))  # what the TTL would do
    with round_trips(monkeypatch) as sent:
        replies = [reply.text for reply in chat.text("配电房").replies]
    assert len(sent) == 2, sent  # BEGIN brought the expired flow; the save forgot it
    assert replies[0] == say("zh", "timed_out", flow=say("zh", "flow_report"), span=say("zh", "span_minutes", count=10))
    assert real_store.redis.get(real_store.user_key("flow", chat.key)) is None
    assert say("zh", "timed_out", flow=say("zh", "flow_report"), span=say("zh", "span_minutes", count=10)) not in [
        reply.text for reply in chat.text("你好").replies
    ]


def test_group_chatter_not_meant_for_the_bot_leaves_the_expired_flow_to_be_told(
    make_engine: Callable[..., Conversation], real_store: SessionStore
) -> None:
    chat = Chat(make_engine(store=real_store), user="cold-2", group="oc_team")
    chat.image(photo(2))
    real_store.redis.delete(real_store.session_redis_key(chat.key))
    assert chat.text("午饭吃什么", addressed=False).replies == []  # not to the bot: nothing said, nothing saved
    replies = [reply.text for reply in chat.text("配电房").replies]
    assert replies[0] == say("zh", "timed_out", flow=say("zh", "flow_report"), span=say("zh", "span_minutes", count=10))
