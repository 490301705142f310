"""The order's life on Slack, end to end: claim, Start / Hold / Resume on the duty card (only the assignee's taps
move it; others are refused in a direct message), typed commands in the assignee's direct chat, the fix photo
resolving the order, the reporter's "not fixed" with a photo reopening it, then "fixed" closing it and a rating.

Taps are ``block_actions`` as PLATFORMS.md §4.1 describes (tests/support/slack.py); messages are ``message``
events in a direct channel (``D…``); the fake Slack records ``chat.postMessage`` / ``chat.update``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bot.config import Settings
from bot.replies import say
from tests.fakes.platform_servers import FakeSlack
from tests.integration import test_duty_slack as duty_tests
from tests.support.engine import photo
from tests.support.live import Live, live_app, order_id_in
from tests.support.slack import USER, SlackClient, buttons

pytestmark = pytest.mark.integration

slack = duty_tests.slack
TECH, OTHER = "UTECH", "UOTHER"
ASSIGNEE_BUTTONS = [say("en", f"choice_{n}") for n in ("start", "hold_parts", "hold_access", "done", "hand_over")]
ASSIGNEE_BUTTONS.append(say("en", "choice_unclaim"))


@pytest.fixture
def live(settings: Settings, slack: FakeSlack, real_store: Any, orders: Any, storage: Any) -> Iterator[Live]:
    with live_app(duty_tests._settings(settings, slack), store=real_store, orders=orders, storage=storage) as app:
        yield app


def _card(slack: FakeSlack, ts: str) -> dict:
    return slack.message(ts)


def _heard(slack: FakeSlack, user: str) -> list[str]:
    """What ``user`` was sent, in order: notices (to the user id) and replies in their direct channel."""
    return [p["text"] for p in list(slack.posted) if p.get("channel") in (user, f"D{user}")]


def test_an_order_from_claim_to_the_reporters_yes(live: Live, slack: FakeSlack, orders: Any) -> None:
    client = SlackClient(live)
    order_id = order_id_in([duty_tests.report(client, slack, "Gate 4, pump room")])
    short = order_id[-5:]
    live.delivered()
    [card] = duty_tests.duty_cards(slack)
    ts = card["ts"]
    values = {"order_id": order_id, "alarm_type": "water leak"}

    client.tap(slack, say("en", "choice_claim"), card, user=TECH)
    live.delivered()
    assert buttons(_card(slack, ts)) == ASSIGNEE_BUTTONS  # the assignee's buttons replace Claim

    # someone else taps Start on the assignee's card: refused, nothing moves
    client.tap(slack, say("en", "choice_start"), _card(slack, ts), user=OTHER)
    assert _heard(slack, OTHER)[-1] == say("en", "refuse_who", order_id=order_id, roles="the assignee or ops")
    assert orders.get(order_id).life == "claimed"

    client.tap(slack, say("en", "choice_start"), _card(slack, ts), user=TECH)
    assert _heard(slack, TECH)[-1] == say("en", "did_start", order_id=order_id)
    live.delivered()
    assert f"In progress: {TECH}" in _card(slack, ts)["text"]
    assert say("en", "tell_started", who=TECH, **values) in _heard(slack, USER)

    client.tap(slack, say("en", "choice_hold_parts"), _card(slack, ts), user=TECH)
    live.delivered()
    held = _card(slack, ts)
    assert "On hold by UTECH: waiting for parts" in held["text"]
    assert buttons(held) == [say("en", f"choice_{n}") for n in ("resume", "done", "hand_over", "unclaim")]
    assert say("en", "tell_on_hold", reason="waiting for parts", who=TECH, **values) in _heard(slack, USER)

    # typed in the assignee's direct chat, by the id's last five characters
    client.text(f"resume {short}", user=TECH, channel=f"D{TECH}")
    assert _heard(slack, TECH)[-1] == say("en", "did_resume", order_id=order_id)
    client.text(f"start {short}", user=TECH, channel=f"D{TECH}")  # already in progress: refused, says why
    refused = say("en", "refuse_state", order_id=order_id, status="in progress", action="started")
    assert _heard(slack, TECH)[-1] == refused

    # the fix photo resolves it; the reporter is asked
    client.text(f"done {short}", user=TECH, channel=f"D{TECH}")
    client.image(slack, photo(7), user=TECH, channel=f"D{TECH}")
    assert orders.get(order_id).life == "resolved"
    assert _heard(slack, TECH)[-1] == say("en", "resolved_wait", order_id=order_id, hours="72")
    live.delivered()
    asked = say("en", "tell_resolved", who=TECH, short=short, hours="72", **values)
    assert asked in _heard(slack, USER)
    assert buttons(_card(slack, ts)) == [] and "Resolved by UTECH" in _card(slack, ts)["text"]

    # "not fixed" without words asks what is wrong; a photo answers and reopens it for the same assignee
    client.text(f"not fixed {short}", user=USER, channel=f"D{USER}")
    assert _heard(slack, USER)[-1] == say("en", "reopen_ask", short=short)
    client.image(slack, photo(9), user=USER, channel=f"D{USER}")
    reopened = orders.get(order_id)
    assert reopened.life == "claimed" and reopened.assignee.user == TECH and reopened.reopen_count == 1
    assert _heard(slack, USER)[-1] == say("en", "did_reopen", order_id=order_id)
    [row] = [r for r in orders.timeline(order_id) if r["kind"] == "reopened"]
    assert row["actor_user"] == USER and row["detail"]["photo_key"]
    live.delivered()
    assert say("en", "tell_assignee_reopened", reason="-", **values) in _heard(slack, TECH)
    assert "reopened by the reporter 1×" in _card(slack, ts)["text"]

    client.text(f"done {short}", user=TECH, channel=f"D{TECH}")
    client.image(slack, photo(11), user=TECH, channel=f"D{TECH}")
    client.text(f"fixed {short}", user=USER, channel=f"D{USER}")
    closed = orders.get(order_id)
    assert closed.status == "closed" and closed.closed_by.user == USER and not closed.auto_confirmed
    thanks = say("en", "did_confirm", order_id=order_id)
    assert _heard(slack, USER)[-1] == f"{thanks}\n\n{say('en', 'tell_confirmed_rate', short=short)}"
    client.text(f"rate {short} 5", user=USER, channel=f"D{USER}")
    assert orders.get(order_id).rating == 5 and _heard(slack, USER)[-1] == say("en", "did_rate")

    kinds = [r["kind"] for r in orders.timeline(order_id)]
    assert kinds == [
        "created",
        "claimed",
        "started",
        "on_hold",
        "resumed",
        "resolved",
        "reopened",
        "resolved",
        "confirmed",
        "rated",
    ]


def test_hand_over_by_mention_and_unclaim_back_to_the_pool(live: Live, slack: FakeSlack, orders: Any) -> None:
    client = SlackClient(live)
    order_id = order_id_in([duty_tests.report(client, slack, "Gate 4, pump room")])
    short = order_id[-5:]
    live.delivered()
    [card] = duty_tests.duty_cards(slack)
    client.tap(slack, say("en", "choice_claim"), card, user=TECH)
    live.delivered()
    client.tap(slack, say("en", "choice_hand_over"), slack.message(card["ts"]), user=TECH)
    assert _heard(slack, TECH)[-1] == say("en", "hand_over_how", order_id=order_id)

    client.text(f"hand over {short} <@{OTHER}>", user=TECH, channel=f"D{TECH}")  # Slack's mention markup
    assert orders.get(order_id).assignee.user == OTHER
    assert _heard(slack, TECH)[-1] == say("en", "did_hand_over", order_id=order_id, who=OTHER)
    live.delivered()
    values = {"order_id": order_id, "alarm_type": "water leak"}
    assert say("en", "tell_assignee_handed", who=TECH, **values) in _heard(slack, OTHER)
    assert say("en", "tell_handed_over", who=OTHER, **values) in _heard(slack, USER)

    client.tap(slack, say("en", "choice_unclaim"), slack.message(card["ts"]), user=TECH)  # duty may unclaim
    live.delivered()
    assert orders.get(order_id).life == "open" and buttons(slack.message(card["ts"])) == [say("en", "choice_claim")]
    assert say("en", "tell_unclaimed", **values) in _heard(slack, USER)
