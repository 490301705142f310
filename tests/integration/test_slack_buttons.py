"""Slack buttons end to end: the bot's Block Kit message on a local fake Slack, tapped back as Slack sends
``block_actions`` (form-encoded ``payload=``, signed with slack_sdk's SignatureVerifier; shape from
PLATFORMS.md §4.1), through the real app on real Redis."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from bot.config import DEFAULT_ALARM_TYPES, Settings
from bot.replies import say
from tests.fakes.platform_servers import FakeSlack
from tests.support.engine import photo
from tests.support.live import live_app, order_id_in
from tests.support.slack import BOT_TOKEN, CHANNEL, SECRET, SlackClient, buttons

# a tap no longer open, in idle: said so, then what the bot can do (one message)
STALE_IN_IDLE = say("en", "choice_closed") + "\n\n" + say("en", "idle_text")

pytestmark = pytest.mark.integration

CONFIRM, CANCEL = say("en", "choice_confirm"), say("en", "choice_cancel")


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(bot_token=BOT_TOKEN) as server:
        yield server


def _settings(settings: Settings, slack: FakeSlack, **extra: Any) -> Settings:
    return settings.with_(
        language="en",
        slack_signing_secret=SECRET,
        slack_bot_token=BOT_TOKEN,
        slack_api_base=slack.base_url,
        **extra,
    )


@pytest.fixture
def client(settings: Settings, slack: FakeSlack, real_store: Any, orders: Any, storage: Any) -> Iterator[SlackClient]:
    with live_app(_settings(settings, slack), store=real_store, orders=orders, storage=storage) as live:
        yield SlackClient(live)


def last(slack: FakeSlack) -> dict:
    """The bot's last message as the user's client shows it now (a snapshot: later updates do not change it)."""
    return copy.deepcopy(slack.posted[-1])


def test_report_and_close_by_taps(client: SlackClient, slack: FakeSlack, orders: Any) -> None:
    client.image(slack, photo(1))
    card = last(slack)
    assert buttons(card) == [*DEFAULT_ALARM_TYPES["en"], CANCEL]  # seven types: a select, Cancel a button
    assert [e["type"] for e in card["blocks"][-1]["elements"]] == ["static_select", "button"]
    assert "1. fire/smoke" in card["text"]  # the text still says how to type it

    client.tap(slack, "water leak")
    assert buttons(slack.message(card["ts"])) == []  # the select gave way to what was chosen
    assert say("en", "card_picked", label="water leak") in str(slack.message(card["ts"])["blocks"])
    assert last(slack)["text"] == "\n\n".join(
        [say("en", "type_set", alarm_type="water leak"), say("en", "ask_location")]
    )

    client.text("Gate 4, pump room")
    summary = last(slack)
    assert buttons(summary) == [CONFIRM, CANCEL] and "Gate 4, pump room" in summary["text"]
    posted = len(slack.posted)
    client.tap(slack, CONFIRM)
    assert len(slack.posted) == posted + 1  # one message per turn
    order_id = order_id_in([last(slack)["text"]])
    assert orders.get(order_id).status == "open"

    client.image(slack, photo(2))  # the fixed site, without typing "close" first
    question = last(slack)
    assert order_id in question["text"] and buttons(question)[-2:] == [say("en", "choice_new"), CANCEL]
    client.tap(slack, say("en", "choice_order", short=order_id[-5:], what="water leak"))
    assert orders.get(order_id).status == "closed"
    assert last(slack)["text"] == say("en", "close_unverified", order_id=order_id)


def test_a_double_tap_makes_one_order(client: SlackClient, slack: FakeSlack, orders: Any) -> None:
    client.image(slack, photo(1))
    client.tap(slack, "water leak")
    client.text("Gate 4")
    summary = last(slack)
    client.tap(slack, CONFIRM, message=summary)
    client.tap(slack, CONFIRM, message=summary)  # the second tap of a double tap
    assert orders.counts()["open"] == 1
    assert last(slack)["text"] == STALE_IN_IDLE


def test_a_stale_tap_after_cancel_changes_nothing(client: SlackClient, slack: FakeSlack) -> None:
    client.image(slack, photo(1))
    card = last(slack)
    client.text("cancel")
    client.tap(slack, "water leak", message=card)
    assert last(slack)["text"] == STALE_IN_IDLE
    assert say("en", "card_closed") in str(slack.message(card["ts"])["blocks"])  # its buttons are gone
    client.text("status")
    assert last(slack)["text"] == say("en", "status_idle", alarm="")


def test_a_tap_that_is_not_ours_is_acked_and_ignored(client: SlackClient, slack: FakeSlack) -> None:
    client.image(slack, photo(1))
    card = last(slack)
    card["blocks"][-1]["elements"][-1]["action_id"] = "someone-elses-app"
    posted = len(slack.posted)
    assert client.tap(slack, CANCEL, message=card).status == 200
    assert len(slack.posted) == posted


def test_a_tampered_tap_is_refused(client: SlackClient, slack: FakeSlack) -> None:
    body = b"payload=%7B%22type%22%3A%22block_actions%22%7D"
    answer = client.live.call(
        "POST",
        "/webhook/slack",
        body=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": "1",
            "X-Slack-Signature": "v0=0",
        },
    )
    assert answer.status == 401


def test_a_photo_gets_an_eyes_reaction_before_the_analysis(
    settings: Settings, slack: FakeSlack, fake_openai: Any, real_store: Any, orders: Any, storage: Any
) -> None:
    with live_app(
        _settings(settings, slack, vlm_base_url=fake_openai.base_url, vlm_api_key="sk-test", nlu_base_url="off"),
        store=real_store,
        orders=orders,
        storage=storage,
    ) as live:
        client = SlackClient(live)
        client.image(slack, photo(1))
        event_ts = slack.calls("download")[0]  # the photo was fetched: the reaction came before it
        reaction = slack.calls("reaction")[0]
        assert reaction.json["name"] == "eyes" and reaction.json["channel"] == CHANNEL
        assert slack.requests.index(reaction) < slack.requests.index(event_ts)
        assert buttons(last(slack)) == [CANCEL] and last(slack)["text"].endswith(say("en", "ask_location"))


def test_a_select_is_used_only_for_many_choices(client: SlackClient, slack: FakeSlack) -> None:
    client.image(slack, photo(1))
    client.tap(slack, "water leak")
    client.text("Gate 4")
    assert [e["type"] for e in last(slack)["blocks"][-1]["elements"]] == ["button", "button"]
    assert [e.get("style") for e in last(slack)["blocks"][-1]["elements"]] == ["primary", "danger"]
