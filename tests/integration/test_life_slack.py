"""The order's life on Slack, end to end: claim, Start / Hold / Resume on the duty card (only the assignee's taps
move it; others are refused in a direct message), typed commands in the assignee's direct chat, the fix photo
resolving the order, the reporter's "not fixed" with a photo reopening it, then "fixed" closing it and a rating.

Taps are ``block_actions`` as PLATFORMS.md §4.1 describes (tests/support/slack.py); messages are ``message``
events in a direct channel (``D…``); the fake Slack records ``chat.postMessage`` / ``chat.update``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from bot.config import Settings
from bot.replies import say
from tests.fakes.platform_servers import FakeSlack
from tests.integration import test_duty_slack as duty_tests
from tests.support.engine import photo
from tests.support.live import Live, live_app, order_id_in, wait_until
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


def _settle(live: Live, slack: FakeSlack) -> None:
    """Every event delivered, and the courier's last calls to Slack made (cards redrawn, people told): the outbox
    is empty once the courier has taken an event, a moment before its sink is done with it."""
    live.delivered()
    last: list[Any] = []

    def quiet() -> bool:
        now = [(p["ts"], p["text"], len(p.get("blocks") or [])) for p in list(slack.posted)]
        same = now == last
        last[:] = now
        time.sleep(0.15)
        return same

    wait_until(quiet, 10, "Slack quiet")


def _hears(slack: FakeSlack, user: str, text: str) -> None:
    """Wait until ``user`` was sent ``text`` (the courier may still be sending once its outbox is empty)."""
    wait_until(lambda: text in _heard(slack, user), 10, f"{user} to hear {text!r}")


def _heard(slack: FakeSlack, user: str) -> list[str]:
    """What ``user`` was sent, in order: notices (to the user id) and replies in their direct channel."""
    return [p["text"] for p in list(slack.posted) if p.get("channel") in (user, f"D{user}")]


def test_an_order_from_claim_to_the_reporters_yes(live: Live, slack: FakeSlack, orders: Any) -> None:
    client = SlackClient(live)
    order_id = order_id_in([duty_tests.report(client, slack, "Gate 4, pump room")])
    short = order_id[-5:]
    _settle(live, slack)
    [card] = duty_tests.duty_cards(slack)
    ts = card["ts"]
    values = {"order_id": order_id, "alarm_type": "water leak"}

    client.tap(slack, say("en", "choice_claim"), card, user=TECH)
    _settle(live, slack)
    assert buttons(_card(slack, ts)) == ASSIGNEE_BUTTONS  # the assignee's buttons replace Claim

    # someone else taps Start on the assignee's card: refused, nothing moves
    client.tap(slack, say("en", "choice_start"), _card(slack, ts), user=OTHER)
    _hears(slack, OTHER, say("en", "refuse_who", order_id=order_id, roles="the assignee or ops"))
    assert orders.get(order_id).life == "claimed"

    client.tap(slack, say("en", "choice_start"), _card(slack, ts), user=TECH)
    _hears(slack, TECH, say("en", "did_start", order_id=order_id))
    _settle(live, slack)
    assert f"In progress: {TECH}" in _card(slack, ts)["text"]
    _hears(slack, USER, say("en", "tell_started", who=TECH, **values))

    client.tap(slack, say("en", "choice_hold_parts"), _card(slack, ts), user=TECH)
    _settle(live, slack)
    held = _card(slack, ts)
    assert "On hold by UTECH: waiting for parts" in held["text"]
    assert buttons(held) == [say("en", f"choice_{n}") for n in ("resume", "done", "hand_over", "unclaim")]
    _hears(slack, USER, say("en", "tell_on_hold", reason="waiting for parts", who=TECH, **values))

    # typed in the assignee's direct chat, by the id's last five characters
    client.text(f"resume {short}", user=TECH, channel=f"D{TECH}")
    _hears(slack, TECH, say("en", "did_resume", order_id=order_id))
    client.text(f"start {short}", user=TECH, channel=f"D{TECH}")  # already in progress: refused, says why
    refused = say("en", "refuse_state", order_id=order_id, status="in progress", action="started")
    _hears(slack, TECH, refused)

    # the fix photo resolves it; the reporter is asked
    client.text(f"done {short}", user=TECH, channel=f"D{TECH}")
    client.image(slack, photo(7), user=TECH, channel=f"D{TECH}")
    assert orders.get(order_id).life == "resolved"
    _hears(slack, TECH, say("en", "resolved_wait", order_id=order_id, hours="72"))
    _settle(live, slack)
    asked = say("en", "tell_resolved", who=TECH, short=short, hours="72", **values)
    _hears(slack, USER, asked)
    assert buttons(_card(slack, ts)) == [] and "Resolved by UTECH" in _card(slack, ts)["text"]

    # "not fixed" without words asks what is wrong; a photo answers and reopens it for the same assignee
    client.text(f"not fixed {short}", user=USER, channel=f"D{USER}")
    _hears(slack, USER, say("en", "reopen_ask", short=short))
    client.image(slack, photo(9), user=USER, channel=f"D{USER}")
    reopened = orders.get(order_id)
    assert reopened.life == "claimed" and reopened.assignee.user == TECH and reopened.reopen_count == 1
    _hears(slack, USER, say("en", "did_reopen", order_id=order_id))
    [row] = [r for r in orders.timeline(order_id) if r["kind"] == "reopened"]
    assert row["actor_user"] == USER and row["detail"]["photo_key"]
    _settle(live, slack)
    _hears(slack, TECH, say("en", "tell_assignee_reopened", reason="-", **values))
    assert "reopened by the reporter 1×" in _card(slack, ts)["text"]

    client.text(f"done {short}", user=TECH, channel=f"D{TECH}")
    client.image(slack, photo(11), user=TECH, channel=f"D{TECH}")
    client.text(f"fixed {short}", user=USER, channel=f"D{USER}")
    closed = orders.get(order_id)
    assert closed.status == "closed" and closed.closed_by.user == USER and not closed.auto_confirmed
    thanks = say("en", "did_confirm", order_id=order_id)
    _hears(slack, USER, f"{thanks}\n\n{say('en', 'tell_confirmed_rate', short=short)}")
    client.text(f"rate {short} 5", user=USER, channel=f"D{USER}")
    assert orders.get(order_id).rating == 5
    _hears(slack, USER, say("en", "did_rate"))

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
    _settle(live, slack)
    [card] = duty_tests.duty_cards(slack)
    client.tap(slack, say("en", "choice_claim"), card, user=TECH)
    _settle(live, slack)
    client.tap(slack, say("en", "choice_hand_over"), slack.message(card["ts"]), user=TECH)
    _hears(slack, TECH, say("en", "hand_over_how", order_id=order_id))

    client.text(f"hand over {short} <@{OTHER}>", user=TECH, channel=f"D{TECH}")  # Slack's mention markup
    assert orders.get(order_id).assignee.user == OTHER
    _hears(slack, TECH, say("en", "did_hand_over", order_id=order_id, who=OTHER))
    _settle(live, slack)
    values = {"order_id": order_id, "alarm_type": "water leak"}
    _hears(slack, OTHER, say("en", "tell_assignee_handed", who=TECH, **values))
    _hears(slack, USER, say("en", "tell_handed_over", who=OTHER, **values))

    client.tap(slack, say("en", "choice_unclaim"), slack.message(card["ts"]), user=TECH)  # duty may unclaim
    _settle(live, slack)
    assert orders.get(order_id).life == "open" and buttons(slack.message(card["ts"])) == [say("en", "choice_claim")]
    _hears(slack, USER, say("en", "tell_unclaimed", **values))


def test_a_reply_in_the_duty_cards_thread_is_a_note(live: Live, slack: FakeSlack, orders: Any) -> None:
    client = SlackClient(live)
    order_id = order_id_in([duty_tests.report(client, slack, "Gate 4, pump room")])
    _settle(live, slack)
    [card] = duty_tests.duty_cards(slack)
    client.tap(slack, say("en", "choice_claim"), card, user=TECH)
    # a reply in the card's thread, as Slack sends it: a channel ``message`` with ``thread_ts`` (no mention)
    thread = {"channel": duty_tests.DUTY, "channel_type": "channel", "thread_ts": card["ts"]}
    client.text("valve closed, waiting for the plumber", user=TECH, **thread)
    client.image(slack, photo(5), user=OTHER, **thread)
    notes = [row for row in orders.timeline(order_id) if row["kind"] == "note_added"]
    assert [(n["actor_user"], (n["detail"] or {}).get("text")) for n in notes] == [
        (TECH, "valve closed, waiting for the plumber"),
        (OTHER, None),
    ]
    assert notes[1]["detail"]["photo_key"] and notes[0]["from_status"] == notes[0]["to_status"] == "claimed"
    _hears(slack, TECH, say("en", "did_note", order_id=order_id))
    _settle(live, slack)
    note = say("en", "tell_assignee_note", order_id=order_id, who=OTHER, text="📷")
    _hears(slack, TECH, note)
    assert not [t for t in _heard(slack, USER) if "note" in t.lower()]  # notes are the team's: not the reporter's
    # a message in the channel outside any card's thread is no note
    client.text("lunch?", user=OTHER, channel=duty_tests.DUTY, channel_type="channel")
    assert len([row for row in orders.timeline(order_id) if row["kind"] == "note_added"]) == 2
