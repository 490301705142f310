"""A user's turns run in the order their messages arrived, whichever consumer thread picks which up first.

A phone that regained signal sends what it queued in a burst: "B3 pump room" then "confirm". Each is acked and
handed on in ``Runtime.take``; consumer threads (of any process) read them from the stream. If the thread that read
the second reached the user's lock first, "confirm" would be taken as the location and no order would be made. The
hand-off therefore reserves each turn's place in the user's lock queue as its message arrives
(``bot.adapters.redis.user_lock``).

Real Redis (the one-trip hand-off exists only there) and the embedded store (a claim, then a hand-off: as on a
Cluster and on the embedded store), the app's own webhook, the local FakeSlack for the replies; the consumer threads are
replaced by explicit takes so the test decides who runs first.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import fakeredis
import pytest

from bot.adapters.redis.store import SessionStore
from bot.config import Settings
from bot.replies import say
from handlers.platforms.job import Job
from handlers.runner.bootstrap import run_job_logged
from handlers.runner.runtime import Runtime
from handlers.web.app import create_app, runtime_of
from tests.fakes.platform_servers import FakeSlack
from tests.support.engine import store_for
from tests.support.slack import BOT_TOKEN, SECRET, TEAM, USER, SlackClient
from tests.unit.test_recent_marks import FlaskTarget

pytestmark = pytest.mark.integration


def _runtime(settings: Settings, store: SessionStore, slack: FakeSlack) -> tuple[Runtime, SlackClient]:
    configured = settings.with_(
        language="en", slack_signing_secret=SECRET, slack_bot_token=BOT_TOKEN, slack_api_base=slack.base_url
    )
    app = create_app(configured, store=store, vlm=None)
    runtime = runtime_of(app)
    runtime.start_workers = lambda: None  # type: ignore[method-assign]  # the test is every consumer
    return runtime, SlackClient(FlaskTarget(app.test_client()))  # type: ignore[arg-type]


def _take(runtime: Runtime) -> tuple[str, bytes]:
    taken = runtime.turn_queue.take("test", reclaim=False)
    assert taken is not None
    entry, _, job = taken
    return entry, job


def _user_texts(store: SessionStore) -> list[str]:
    session = store.load(f"slack:{TEAM}:{USER}")
    assert session is not None
    return [turn["text"] for turn in session.history if turn["role"] == "user"]


@pytest.fixture(params=["one Redis", "claim, then hand on"])
def any_store(request: pytest.FixtureRequest, settings: Settings, real_store: SessionStore) -> SessionStore:
    """Real Redis, where the hand-off's own script reserves the place; or the embedded store, where the hand-off is
    a step after the mark (as on a Cluster) and the place is reserved on a round trip of its own."""
    return real_store if request.param == "one Redis" else store_for(fakeredis.FakeRedis(), settings)


def test_the_second_message_picked_up_first_waits_for_the_first(settings: Settings, any_store: SessionStore) -> None:
    check_the_second_message_picked_up_first_waits(settings, any_store)


def check_the_second_message_picked_up_first_waits(settings: Settings, any_store: SessionStore) -> None:
    """Two messages of one user acked in order; the second one's turn is started first (also run on a Cluster, by
    ``test_redis_topologies``)."""
    with FakeSlack(bot_token=BOT_TOKEN) as slack:
        runtime, client = _runtime(settings, any_store, slack)
        assert client.post(client.event({"text": "help"})).status_code == 200
        assert client.post(client.event({"text": "cancel"})).status_code == 200
        first, second = _take(runtime), _take(runtime)

        late = threading.Thread(target=run_job_logged, args=(runtime, "slack", second[1]))
        late.start()  # the second message's thread reaches the lock first...
        late.join(0.5)
        assert late.is_alive()  # ...and waits: the first message's place is ahead of it
        assert slack.texts() == []

        run_job_logged(runtime, "slack", first[1])
        late.join(10)
        assert not late.is_alive()
        for entry, _ in (first, second):
            runtime.turn_queue.done(entry)

        assert len(slack.texts()) == 2  # each answered
    assert _user_texts(any_store) == ["help", "cancel"]  # the turns ran in the order the messages arrived
    assert not any_store.redis.exists(any_store.user_key("lockq", f"slack:{TEAM}:{USER}"))  # nothing left queued


def test_the_answers_to_a_burst_reach_the_user_in_the_order_it_was_sent(
    settings: Settings, real_store: SessionStore
) -> None:
    """A turn sends its answer before it gives the lock up: the next message's turn, however quick, cannot
    answer first while the first answer is still on its way (here: Slack takes half a second to take it)."""
    with FakeSlack(bot_token=BOT_TOKEN) as slack:
        runtime, client = _runtime(settings, real_store, slack)
        assert client.post(client.event({"text": "help"})).status_code == 200
        assert client.post(client.event({"text": "status"})).status_code == 200
        (_, first), (_, second) = _take(runtime), _take(runtime)
        slack.slow("post", 0.5)

        turns = [threading.Thread(target=run_job_logged, args=(runtime, "slack", job)) for job in (first, second)]
        turns[0].start()
        _wait_for(lambda: slack.calls("post"))  # the first answer is on its way, slowly
        turns[1].start()
        for turn in turns:
            turn.join(10)
        answers = slack.texts()
        assert len(answers) == 2 and answers[0] == say("en", "help_idle"), answers  # "help" answered first


def _wait_for(check: Callable[[], Any], timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_place_no_turn_took_up_is_given_back_when_its_entry_is_done(
    settings: Settings, real_store: SessionStore
) -> None:
    """A job that ran no turn (a tap on a card, a turn that failed before the lock) must not hold the user's
    next turns back until its reservation expires (the heartbeat's time, 30 s)."""
    with FakeSlack(bot_token=BOT_TOKEN) as slack:
        runtime, client = _runtime(settings, real_store, slack)
        assert client.post(client.event({"text": "help"})).status_code == 200
        unused, _ = _take(runtime)
        queue = real_store.user_key("lockq", f"slack:{TEAM}:{USER}")
        assert real_store.redis.llen(queue) == 1  # reserved as it arrived
        runtime.turn_queue.done(unused)  # finished without a turn
        assert not real_store.redis.exists(queue)

        assert client.post(client.event({"text": "cancel"})).status_code == 200
        entry, job = _take(runtime)
        finished = threading.Thread(target=run_job_logged, args=(runtime, "slack", job))
        finished.start()
        finished.join(5)  # far less than the 30 s a forgotten reservation would hold it back
        assert not finished.is_alive()
        runtime.turn_queue.done(entry)
    assert _user_texts(real_store) == ["cancel"]


def test_a_place_reserved_apart_from_the_hand_off_is_given_back_by_a_job_that_ran_no_turn(
    settings: Settings,
) -> None:
    """Mark, then hand on (a Cluster, the embedded store): the stream entry carries its place, and whatever the job
    did, a place no turn took up is given back as the entry is done. Here: a tap on a card meant for someone else."""
    store = store_for(fakeredis.FakeRedis(), settings)
    with FakeSlack(bot_token=BOT_TOKEN) as slack:
        runtime, client = _runtime(settings, store, slack)
        assert not runtime.marks_are_final
        assert client.post(client.event({"text": "help"})).status_code == 200
        entry, raw = _take(runtime)
        queue = store.user_key("lockq", f"slack:{TEAM}:{USER}")
        assert store.redis.llen(queue) == 1  # reserved as it arrived
        run_job_logged(runtime, "slack", replace(Job.from_json(raw), foreign_tap=True).to_json())
        runtime.turn_queue.done(entry)
        assert not store.redis.exists(queue)


def test_a_job_s_session_is_the_one_its_turn_runs_in() -> None:
    """The hand-off reserves the place in the queue of ``job.session_key``; the turn locks its message's session."""
    direct = Job("slack", "T1", "U1", "text", event_id="e", chat="D1")
    group = replace(direct, chat="C1", group=True)
    for job in (direct, group):
        assert job.session_key == job.incoming().session_key
    assert group.session_key != direct.session_key
