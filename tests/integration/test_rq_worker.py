"""WORKER_MODE=rq: the web process only acks and enqueues; an RQ worker (a separate process in
production, ``rq worker`` from the Procfile) runs the turn and answers through the platform API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from rq import Queue, SimpleWorker

import handlers.worker
from bot.config import Settings, env_name
from tests.fakes.platform_servers import FakeSlack
from tests.support.engine import REDIS_URL, wipe_prefix
from tests.support.live import live_app
from tests.support.slack import BOT_TOKEN, CHANNEL, SECRET, SlackClient

pytestmark = pytest.mark.integration


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(bot_token=BOT_TOKEN) as server:
        yield server


@pytest.fixture
def rq_settings(settings: Settings, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    configured = settings.with_(
        language="en",
        redis_url=REDIS_URL,
        worker_mode="rq",
        slack_signing_secret=SECRET,
        slack_bot_token=BOT_TOKEN,
        slack_api_base=slack.base_url,
    )
    # The worker builds its runtime from the environment, as a real `rq worker` process would.
    for name in (
        "language",
        "redis_url",
        "redis_prefix",
        "database_url",
        "storage_dir",
        "worker_mode",
        "slack_signing_secret",
        "slack_bot_token",
        "slack_api_base",
    ):
        monkeypatch.setenv(env_name(name), str(getattr(configured, name)))
    monkeypatch.setattr(handlers.worker, "_runtime", None)
    yield configured
    wipe_prefix(redis.Redis.from_url(REDIS_URL), configured.redis_prefix)


def test_turns_run_in_an_rq_worker(rq_settings: Settings, slack: FakeSlack, redis_client: Any):
    with live_app(rq_settings) as live:
        client = SlackClient(live)
        answer = client.text("help")
        assert answer.status == 200
        assert slack.posted == []  # nothing answered yet: the turn waits on the queue

        queue = Queue(f"{rq_settings.redis_prefix}:turns-queue", connection=redis_client)
        assert queue.count == 1
        SimpleWorker([queue], connection=redis_client).work(burst=True)

    texts = slack.texts(CHANNEL)
    assert texts and "I can:" in texts[0]


class UnreachableQueue:
    """An RQ queue whose Redis went away between the dedupe claim and the enqueue."""

    def enqueue(self, *args: Any, **kwargs: Any) -> None:
        raise redis.ConnectionError("Connection refused")


def test_a_turn_that_cannot_be_queued_is_refused_and_its_retry_processed(
    rq_settings: Settings, slack: FakeSlack, redis_client: Any
):
    with live_app(rq_settings) as live:
        client = SlackClient(live)
        event = client.event({"text": "help", "client_msg_id": "c-retry"}, event_id="EvRETRY0001")
        live.runtime._queue = UnreachableQueue()
        first = client.post(event)
        assert first.status == 503  # Slack retries a non-2xx answer

        live.runtime._queue = None  # the queue is back
        retry = client.post(event, headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_error"})
        assert retry.status == 200
        queue = Queue(f"{rq_settings.redis_prefix}:turns-queue", connection=redis_client)
        assert queue.count == 1  # processed, not dropped as a duplicate of the refused delivery
