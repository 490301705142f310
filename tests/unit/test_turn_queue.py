"""The durable hand-off on fakeredis: take-over of abandoned turns, the bound, and the 503 under a flood."""

from __future__ import annotations

import time
from typing import Any

import fakeredis
import orjson
import pytest

from bot.adapters.redis.turn_stream import MAX_DELIVERIES, QueueFull, TurnQueue
from bot.config import Settings
from handlers.web.app import create_app, runtime_of
from tests.support.engine import store_for
from tests.support.slack import SECRET, TEAM, USER, SlackClient


def test_a_turn_left_by_a_dead_consumer_is_taken_over_after_the_visibility_timeout() -> None:
    queue = TurnQueue(fakeredis.FakeRedis(), "t:turns", max_len=10, visibility_seconds=0.2)
    entry = queue.add("slack", b'{"event_id": "e1"}')
    assert queue.take("dead-process", reclaim=True) == (entry, "slack", b'{"event_id": "e1"}')
    # the dead process never calls done(); a live one sees nothing new and, too early, nothing abandoned
    assert queue.take("live-process", reclaim=True) is None
    time.sleep(0.25)
    assert queue.take("live-process", reclaim=True) == (entry, "slack", b'{"event_id": "e1"}')
    queue.done(entry)
    assert queue.unfinished() == 0


def test_a_running_turn_kept_fresh_by_its_heartbeat_is_not_taken() -> None:
    queue = TurnQueue(fakeredis.FakeRedis(), "t:turns", max_len=10, visibility_seconds=0.2)
    entry = queue.add("slack", b'{"event_id": "e1"}')
    queue.take("busy-process", reclaim=False)
    for _ in range(3):
        time.sleep(0.1)
        queue.touch("busy-process", [entry])
        assert queue.take("other-process", reclaim=True) is None


def test_a_turn_that_keeps_killing_its_process_is_dropped() -> None:
    queue = TurnQueue(fakeredis.FakeRedis(), "t:turns", max_len=10, visibility_seconds=0)
    queue.add("slack", b'{"event_id": "poison"}')
    taken = [queue.take(f"p{n}", reclaim=True) for n in range(MAX_DELIVERIES + 1)]
    assert all(taken[:MAX_DELIVERIES]) and taken[MAX_DELIVERIES] is None
    assert queue.unfinished() == 0


def test_the_queue_is_bounded() -> None:
    queue = TurnQueue(fakeredis.FakeRedis(), "t:turns", max_len=2, visibility_seconds=60)
    queue.add("slack", b"{}")
    queue.add("slack", b"{}")
    with pytest.raises(QueueFull):
        queue.add("slack", b"{}")


class FlaskTarget:
    """What SlackClient needs of ``Live``, on Flask's test client."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def call(self, method: str, path: str, body: bytes, headers: dict[str, str], settle: bool = True) -> Any:
        return self.client.open(path, method=method, data=body, headers=headers)


def test_a_flood_is_answered_503_and_the_platforms_retry_is_taken_later(settings: Settings) -> None:
    configured = settings.with_(
        slack_signing_secret=SECRET, slack_bot_token="xoxb-1", slack_api_base="http://127.0.0.1:9/api", turn_queue_max=1
    )
    app = create_app(configured, store=store_for(fakeredis.FakeRedis(), configured), vlm=None)
    runtime = runtime_of(app)
    runtime.turn_queue.add("slack", b'{"filler": true}')  # the one place is taken and nobody consumes it yet
    slack = SlackClient(FlaskTarget(app.test_client()))  # type: ignore[arg-type]
    event = slack.event({"text": "hello"})

    refused = slack.post(event)
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "5"
    assert runtime.turn_queue.unfinished() == 1  # nothing grew

    entry, _, _ = runtime.turn_queue.take("test", reclaim=False) or ("", "", {})
    runtime.turn_queue.done(entry)  # space again
    retried = slack.post(event)  # the same event again, as Slack retries it: taken, not dropped as a duplicate
    assert retried.status_code == 200
    runtime.drain()
    runtime.stop(timeout=1)
    assert runtime.store.load(f"slack:{TEAM}:{USER}").turns == 1  # the retried event's turn ran, once


def test_an_entrys_place_is_read_from_its_field_or_an_older_versions_job_and_a_damaged_one_is_ignored() -> None:
    from bot.adapters.redis.turn_stream import _place

    place = ["q", "a", "rtok", "w:"]
    assert _place(orjson.dumps(place), b"{}") == tuple(place)
    assert _place(None, orjson.dumps({"user": "U1", "place": place})) == tuple(place)  # kept in the job before
    assert _place(b"{not json", b"{}") is None
    assert _place(None, b'["place"]') is None  # a job that is not an object
    assert _place(None, b'{"user": "U1"}') is None
