"""Three photos sent together on Slack are one analysis: the turns of the first two see the others queued behind
them (their places reserved in the user's queue as each message arrived) and leave the analysis to the last,
which sends all three to the VLM in one request. Real Redis, the real ``openai`` client against the local fake
VLM, Slack's ``file_share`` events as Slack sends them (../shared/PLATFORMS.md §3)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from bot.config import Settings
from bot.replies import say
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.platform_servers import FakeSlack
from tests.support.engine import photo
from tests.support.live import Live, live_app
from tests.support.slack import BOT_TOKEN, SlackClient, slack_settings

pytestmark = pytest.mark.integration


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(bot_token=BOT_TOKEN) as server:
        yield server


@pytest.fixture
def live(
    settings: Settings, slack: FakeSlack, fake_openai: FakeOpenAI, real_store: Any, orders: Any, storage: Any
) -> Iterator[Live]:
    configured = slack_settings(
        settings,
        slack,
        vlm_base_url=fake_openai.base_url,
        nlu_base_url="off",
        photo_burst_seconds=8.0,
    )
    with live_app(configured, store=real_store, orders=orders, storage=storage) as app:
        yield app


def test_three_photos_sent_together_are_one_vlm_request(live: Live, slack: FakeSlack, fake_openai: FakeOpenAI) -> None:
    client = SlackClient(live)
    fake_openai.respond_with(
        json.dumps({"alarm_type": "water leak", "description": "Water.", "severity": "high", "confidence": 0.9})
    )
    slack.slow("download", 1.0, times=1)  # the first photo's turn is still fetching as the other two arrive
    for n in (1, 2, 3):
        file = slack.add_file(f"FBURST{n}", photo(20 + n))
        event = {"subtype": "file_share", "text": "", "files": [file], "user": "uburst", "channel": "DBURST"}
        client.post(client.event(event), settle=False)
    live.settle()

    (request,) = fake_openai.requests  # one analysis for the burst
    assert len(request.image_urls) == 3
    said = slack.texts("DBURST")
    assert said[0] == say("en", "photo_burst_waiting")
    assert said[-1].startswith(say("en", "photo_added", count=3)) and say("en", "ask_location") in said[-1]
