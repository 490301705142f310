"""A Slack message delivered three times tells the user exactly what it tells them delivered once.

Slack retries an event it got no answer to within 3 s, up to three times, with the same ``event_id`` and the
``X-Slack-Retry-Num`` / ``X-Slack-Retry-Reason`` headers (../shared/PLATFORMS.md §3); the bot dedupes a message by
its channel and ``ts``. As for WeCom (test_wecom_redelivery.py): a photo → place → confirm report delivered once,
then by another user three times (the first, one while its turn runs, one after), and what each user received at
each step (the 👀 reaction on the photo included) compared, on real Redis and on the embedded store.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bot.config import Settings
from bot.ports import Reporter
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.platform_servers import FakeSlack
from tests.integration.test_wecom_redelivery import _deliver, comparable, turn_started
from tests.support.engine import photo
from tests.support.live import Live, live_app
from tests.support.slack import BOT_TOKEN, SECRET, TEAM, SlackClient

pytestmark = pytest.mark.integration


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(bot_token=BOT_TOKEN) as server:
        yield server


@pytest.fixture(params=["redis", "embedded"])
def live(
    request: pytest.FixtureRequest,
    settings: Settings,
    slack: FakeSlack,
    fake_openai: FakeOpenAI,
    real_store: Any,
    orders: Any,
    storage: Any,
) -> Iterator[Live]:
    configured = settings.with_(
        language="en",
        slack_signing_secret=SECRET,
        slack_bot_token=BOT_TOKEN,
        slack_api_base=slack.base_url,
        vlm_base_url=fake_openai.base_url,
        nlu_base_url="off",
        vlm_api_key="sk-test",
    )
    store = real_store if request.param == "redis" else None  # None: the in-process store
    with live_app(configured, store=store, orders=orders, storage=storage) as app:
        yield app


def _report(client: SlackClient, slack: FakeSlack, live: Live, fake_openai: FakeOpenAI, user: str, copies: int) -> Any:
    """Photo, place, confirm, each delivered ``copies`` times: what the user saw at each step."""
    channel = f"D{user.upper()}"
    file = slack.add_file(f"F{user.upper()}", photo(7))
    steps = [
        client.event({"subtype": "file_share", "text": "", "files": [file], "user": user, "channel": channel}),
        client.event({"text": "Gate 4, pump room", "user": user, "channel": channel}),
        client.event({"text": "confirm", "user": user, "channel": channel}),
    ]
    fake_openai.delay(1.0, times=1)  # the photo's turn is still running when its second delivery arrives
    seen: list[list[str]] = []
    for payload in steps:
        texts, reactions = len(slack.texts(channel)), len(slack.reactions)

        def post(retry: int, settle: bool, payload: dict = payload) -> Any:
            headers = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"} if retry else {}
            return client.post(payload, headers=headers, settle=settle)

        _deliver(post, live, copies, turn_started(fake_openai, photo_step=payload is steps[0]))
        step = [f":{r['name']}:" for r in slack.reactions[reactions:] if r["channel"] == channel]
        seen.append(step + [comparable(text) for text in slack.texts(channel)[texts:]])
    return seen


def test_a_report_delivered_three_times_tells_the_user_what_it_does_delivered_once(
    live: Live, slack: FakeSlack, fake_openai: FakeOpenAI, orders: Any
) -> None:
    client = SlackClient(live)
    once = _report(client, slack, live, fake_openai, "uonce", copies=1)
    assert once[0][0] == ":eyes:" and "Work order created" in once[2][0]  # a report was made
    (first,) = orders.list()[0]
    # Cancelled, so that the same report from the same place is not taken for a repeat of it.
    orders.cancel(first.id, "the next report is the same one", Reporter("slack", TEAM, "ops"))
    thrice = _report(client, slack, live, fake_openai, "uthrice", copies=3)
    assert [len(step) for step in thrice] == [len(step) for step in once]  # what the user saw, per step
    assert thrice == once
    page, _ = orders.list()
    assert sorted((o.reporter.user, o.status) for o in page) == [("uonce", "cancelled"), ("uthrice", "open")]
