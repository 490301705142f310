"""A turn's scripts go straight to a connection of the thread (``bot.adapters.redis.direct.Line``); when that
connection breaks, the turn is sent the ordinary way and the user notices nothing. Real Redis."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
import redis

from bot.adapters.redis.direct import Line
from bot.adapters.redis.store import SessionStore
from bot.config import Settings
from bot.dialogue.engine import Conversation
from handlers.web.app import create_app, runtime_of
from tests.support.engine import Chat, store_for
from tests.support.slack import SECRET, TEAM, USER, SlackClient
from tests.support.tcp_forward import free_port
from tests.unit.test_recent_marks import FlaskTarget

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


def test_a_webhook_claims_and_queues_in_one_round_trip_and_a_full_queue_gives_the_claims_back(
    settings: Settings, real_store: SessionStore
) -> None:
    configured = settings.with_(
        slack_signing_secret=SECRET, slack_bot_token="xoxb-1", slack_api_base="http://127.0.0.1:9/api", turn_queue_max=1
    )
    app = create_app(configured, store=real_store, vlm=None)
    runtime = runtime_of(app)
    assert runtime.turn_queue.takes_marks  # one Redis: the ACCEPT script, not claim + XLEN/XADD
    runtime.turn_queue.add("slack", b'{"filler": true}')  # the one place is taken and nobody consumes it yet
    slack = SlackClient(FlaskTarget(app.test_client()))  # type: ignore[arg-type]
    event = slack.event({"text": "hello"})

    refused = slack.post(event)
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "5"
    assert not list(real_store.redis.scan_iter(match=real_store.key("seen", "*")))  # the claim was given back
    assert runtime.turn_queue.unfinished() == 1  # nothing grew

    entry, _, _ = runtime.turn_queue.take("test", reclaim=False) or ("", "", {})
    runtime.turn_queue.done(entry)
    assert slack.post(event).status_code == 200  # Slack's retry is taken, not dropped as a duplicate
    assert slack.post(event).status_code == 200  # and its redelivery is dropped
    runtime.drain()
    runtime.stop(timeout=1)
    assert real_store.load(f"slack:{TEAM}:{USER}").turns == 1


def test_redis_down_at_the_webhook_is_503_never_500(settings: Settings) -> None:
    """The one-trip hand-off with nothing listening: the platform is told to retry, no stack trace."""
    dead = redis.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.2, retry=None)
    configured = settings.with_(
        slack_signing_secret=SECRET, slack_bot_token="xoxb-1", slack_api_base="http://127.0.0.1:9/api"
    )
    app = create_app(configured, store=store_for(dead, configured), vlm=None)
    assert runtime_of(app).turn_queue.takes_marks
    slack = SlackClient(FlaskTarget(app.test_client()))  # type: ignore[arg-type]
    answer = slack.post(slack.event({"text": "hello"}))
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "5"
    assert b"store unavailable" in answer.data


def test_a_process_remembers_an_event_another_process_claimed_when_claims_are_final(
    settings: Settings, real_store: SessionStore
) -> None:
    """Two web processes on one Redis: the second learns of the first's claim once, then drops the event's
    redeliveries without asking (``Runtime.marks_are_final``: no claim is given back once anyone can see it)."""
    configured = settings.with_(
        slack_signing_secret=SECRET, slack_bot_token="xoxb-1", slack_api_base="http://127.0.0.1:9/api"
    )
    first, second = (create_app(configured, store=store_for(real_store.redis, configured), vlm=None) for _ in "12")
    assert runtime_of(second).marks_are_final
    event = SlackClient(FlaskTarget(first.test_client())).event({"text": "hello"})  # type: ignore[arg-type]
    assert SlackClient(FlaskTarget(first.test_client())).post(event).status_code == 200  # type: ignore[arg-type]
    to_second = SlackClient(FlaskTarget(second.test_client()))  # type: ignore[arg-type]
    assert to_second.post(event).status_code == 200  # asked Redis: claimed already

    marks = list(real_store.redis.scan_iter(match=real_store.key("seen", "*")))
    real_store.redis.delete(*marks)  # only the second process's memory can still recognise the event
    assert to_second.post(event).status_code == 200
    assert not list(real_store.redis.scan_iter(match=real_store.key("seen", "*")))  # Redis was not asked again
    for app in (first, second):
        runtime_of(app).drain()
        runtime_of(app).stop(timeout=1)
    assert real_store.load(f"slack:{TEAM}:{USER}").turns == 1


def test_direct_connections_do_not_use_up_the_client_s_pool(redis_client: redis.Redis) -> None:
    """Every thread keeps its own connection (the turn consumers too): they must not count against the pool's
    ``max_connections``, or a process would run out after enough threads or reconnections."""
    pool = redis.ConnectionPool(**redis_client.connection_pool.connection_kwargs, max_connections=2)
    line = Line(redis.Redis(connection_pool=pool))
    answers: list[object] = []

    def ping() -> None:
        answers.append(line.send([("PING",)])[0])

    threads = [threading.Thread(target=ping) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert len(answers) == 6 and not any(isinstance(answer, Exception) for answer in answers)
    assert pool._created_connections == 0  # none was taken from the pool, nor fell back to it


def test_commands_of_one_round_trip_come_back_in_order_and_a_bad_argument_is_a_data_error(
    redis_client: redis.Redis, settings: Settings
) -> None:
    line = Line(redis_client)
    key = f"{settings.redis_prefix}:line-order"
    try:
        replies = line.send([("SET", key, "我", "EX", 60), ("APPEND", key, b"\xff"), ("GET", key), ("INCR", key)])
        assert replies[:3] == [b"OK", 4, "我".encode() + b"\xff"]  # str, bytes and int arguments, raw replies
        assert isinstance(replies[3], redis.ResponseError)  # an error reply stays in its place
        with pytest.raises(redis.DataError):
            line.send([("SET", key, None)])  # refused before anything is sent
        assert line.send([("GET", key)]) == ["我".encode() + b"\xff"]  # and the line still works
    finally:
        redis_client.delete(key)
