"""A process drops redeliveries of events it accepted itself without a Redis round trip
(``handlers.runner.recent_marks``)."""

from __future__ import annotations

import time
from typing import Any

import fakeredis
from prometheus_client.parser import text_string_to_metric_families

from bot.config import Settings
from handlers.runner.recent_marks import RecentMarks
from handlers.web.app import create_app, runtime_of
from tests.support.engine import store_for
from tests.support.slack import SECRET, TEAM, USER, SlackClient


class FlaskTarget:
    """What SlackClient needs of ``Live``, on Flask's test client."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def call(self, method: str, path: str, body: bytes, headers: dict[str, str], settle: bool = True) -> Any:
        return self.client.open(path, method=method, data=body, headers=headers)


def test_every_id_must_be_held_and_unexpired() -> None:
    marks = RecentMarks(ttl_seconds=60)
    now = time.monotonic()
    marks.remember("feishu", ("ev-1", "om-1"), now)
    assert marks.holds("feishu", ("ev-1", "om-1"))
    assert marks.holds("feishu", ("om-1",))
    assert not marks.holds("feishu", ("ev-1", "om-2"))  # a new message id under a known event id: ask Redis
    assert not marks.holds("slack", ("ev-1",))  # per platform
    assert not marks.holds("feishu", ())  # an event without ids is never a known redelivery
    marks.remember("slack", ("old",), now - 61)  # marked longer ago than the dedupe TTL: Redis has forgotten it
    assert not marks.holds("slack", ("old",))


def test_the_oldest_are_forgotten_past_the_capacity() -> None:
    marks = RecentMarks(ttl_seconds=60, capacity=3)
    now = time.monotonic()
    for n in range(5):
        marks.remember("slack", (f"ev-{n}",), now)
    assert [marks.holds("slack", (f"ev-{n}",)) for n in range(5)] == [False, False, True, True, True]


def _slack_app(settings: Settings, **changes: Any) -> Any:
    configured = settings.with_(
        slack_signing_secret=SECRET, slack_bot_token="xoxb-1", slack_api_base="http://127.0.0.1:9/api", **changes
    )
    return create_app(configured, store=store_for(fakeredis.FakeRedis(), configured), vlm=None)


def _redeliveries(app: Any) -> float:
    text = app.test_client().get("/metrics").get_data(as_text=True)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "wobot_webhook_redeliveries_total" and sample.labels == {"platform": "slack"}:
                return sample.value
    return 0.0


def test_a_redelivery_of_an_event_this_process_accepted_is_dropped_without_asking_redis(settings: Settings) -> None:
    app = _slack_app(settings)
    runtime = runtime_of(app)
    slack = SlackClient(FlaskTarget(app.test_client()))  # type: ignore[arg-type]
    event = slack.event({"text": "hello"})
    assert slack.post(event).status_code == 200
    runtime.drain()

    seen = list(runtime.store.redis.scan_iter(match=runtime.store.key("seen", "*")))
    assert seen  # the claim Redis keeps for every process
    runtime.store.redis.delete(*seen)  # gone from Redis: only this process's memory can still recognise the event
    retried = slack.post(event, headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    assert retried.status_code == 200
    runtime.drain()
    runtime.stop(timeout=1)
    assert not list(runtime.store.redis.scan_iter(match=runtime.store.key("seen", "*")))  # Redis was not asked
    assert runtime.store.load(f"slack:{TEAM}:{USER}").turns == 1  # the turn ran once
    assert _redeliveries(app) == 1  # counted, not logged at INFO


def test_a_claim_given_back_is_not_remembered(settings: Settings) -> None:
    """The queue was full: the claim is released and the platform's retry must run, not be dropped."""
    app = _slack_app(settings, turn_queue_max=1)
    runtime = runtime_of(app)
    runtime.turn_queue.add("slack", b'{"filler": true}')
    slack = SlackClient(FlaskTarget(app.test_client()))  # type: ignore[arg-type]
    event = slack.event({"text": "hello"})
    assert slack.post(event).status_code == 503
    entry, _, _ = runtime.turn_queue.take("test", reclaim=False) or ("", "", {})
    runtime.turn_queue.done(entry)
    assert slack.post(event).status_code == 200
    runtime.drain()
    runtime.stop(timeout=1)
    assert runtime.store.load(f"slack:{TEAM}:{USER}").turns == 1
    assert _redeliveries(app) == 0


def test_another_process_s_claim_is_asked_about_every_time_where_it_may_be_given_back(settings: Settings) -> None:
    """Claim first, hand on after (here: no one-trip script on the embedded store): another process's claim can
    still be released when its hand-off fails, so it is never remembered as final."""
    configured = settings.with_(
        slack_signing_secret=SECRET, slack_bot_token="xoxb-1", slack_api_base="http://127.0.0.1:9/api"
    )
    shared = fakeredis.FakeRedis()
    first, second = (create_app(configured, store=store_for(shared, configured), vlm=None) for _ in "12")
    assert not runtime_of(second).marks_are_final
    event = SlackClient(FlaskTarget(first.test_client())).event({"text": "hello"})  # type: ignore[arg-type]
    assert SlackClient(FlaskTarget(first.test_client())).post(event).status_code == 200  # type: ignore[arg-type]
    to_second = SlackClient(FlaskTarget(second.test_client()))  # type: ignore[arg-type]
    assert to_second.post(event).status_code == 200  # claimed already: dropped

    store = runtime_of(second).store
    store.redis.delete(*store.redis.scan_iter(match=store.key("seen", "*")))  # as if the first had given it back
    assert to_second.post(event).status_code == 200
    assert list(store.redis.scan_iter(match=store.key("seen", "*")))  # asked Redis, and claimed it this time
    for app in (first, second):
        runtime_of(app).drain()
        runtime_of(app).stop(timeout=1)
    assert store.load(f"slack:{TEAM}:{USER}").turns == 1  # the turn's stored result kept it from running twice
