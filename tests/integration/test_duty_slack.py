"""Duty chats on Slack, end to end: a confirmed report reaches the duty channel as a card with Claim; two
technicians tap Claim at once and exactly one gets it; the card, the reporter and the other technician are
told; the close and a duplicate report reach the card too; an unclaimed order is posted again as overdue.

Taps are ``block_actions`` as PLATFORMS.md §4.1 describes (tests/support/slack.py); the fake Slack records
``chat.postMessage`` / ``chat.update`` as api.slack.com documents them.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from bot.config import Settings
from bot.replies import say
from tests.fakes.platform_servers import FakeSlack
from tests.integration import test_slack_buttons as buttons_tests
from tests.support.engine import photo
from tests.support.live import Live, live_app, order_id_in, wait_until
from tests.support.slack import TEAM, USER, SlackClient, buttons

pytestmark = pytest.mark.integration

DUTY = "C0DUTY"
CLAIM = say("en", "choice_claim")
ASSIGNEE = ("start", "hold_parts", "hold_access", "done", "hand_over", "unclaim")  # the assignee's buttons


slack = buttons_tests.slack


def _settings(settings: Settings, slack: FakeSlack, **extra: Any) -> Settings:
    routes = f"slack:{TEAM}={DUTY}, slack:*:fire/smoke=C0FIRE"
    return buttons_tests._settings(settings, slack, duty_routes=routes, **extra)


@pytest.fixture
def live(settings: Settings, slack: FakeSlack, real_store: Any, orders: Any, storage: Any) -> Iterator[Live]:
    with live_app(_settings(settings, slack), store=real_store, orders=orders, storage=storage) as app:
        yield app


def report(client: SlackClient, slack: FakeSlack, place: str, user: str = USER, seed: int = 1) -> str:
    """A report by taps and typing, as in tests/integration/test_slack_buttons.py; returns the last reply."""
    channel = f"D{user}"
    client.image(slack, photo(seed), user=user, channel=channel)
    client.tap(slack, "water leak", user=user)
    client.text(place, user=user, channel=channel)
    client.tap(slack, say("en", "choice_confirm"), user=user)
    return slack.posted[-1]["text"]


def duty_cards(slack: FakeSlack, channel: str = DUTY) -> list[dict]:
    return [p for p in slack.posted if p["channel"] == channel]


def test_an_order_reaches_the_duty_channel_and_the_first_claim_wins(live: Live, slack: FakeSlack, orders: Any) -> None:
    client = SlackClient(live)
    order_id = order_id_in([report(client, slack, "Gate 4, pump room")])
    live.delivered()
    [card] = copy.deepcopy(duty_cards(slack))  # as the technicians' clients show it, before any redraw
    assert card["blocks"][0]["text"]["text"] == say("en", "duty_title", order_id=order_id, alarm_type="water leak")
    assert "Location: Gate 4, pump room" in card["text"] and f"Reported by: {USER}" in card["text"]
    assert buttons(card) == [CLAIM]
    assert not duty_cards(slack, "C0FIRE")  # the fire route is for fire/smoke only

    # two technicians tap Claim on the same card at the same moment
    taps = [threading.Thread(target=client.tap, args=(slack, CLAIM, card), kwargs={"user": u}) for u in ("UA", "UB")]
    for tap in taps:
        tap.start()
    for tap in taps:
        tap.join()
    live.delivered()
    order = orders.get(order_id)
    assert order.assignee is not None and order.assignee.user in ("UA", "UB") and order.claimed_at is not None
    winner, loser = order.assignee.user, ({"UA", "UB"} - {order.assignee.user}).pop()
    redrawn = slack.message(card["ts"])
    assert (
        buttons(redrawn) == [say("en", f"choice_{n}") for n in ASSIGNEE] and f"Claimed by {winner}" in redrawn["text"]
    )
    assert slack.texts(winner)[-1] == say("en", "claim_won", order_id=order_id)
    assert slack.texts(loser)[-1] == say("en", "claim_taken", order_id=order_id, who=winner)
    told = say("en", "tell_reporter_claimed", order_id=order_id, alarm_type="water leak", who=winner)
    assert told in slack.texts(USER)

    # the assignee's fix photo resolves it; the reporter confirms; the card hears of it
    client.text(f"close {order_id}", user=winner, channel=f"D{winner}")
    client.image(slack, photo(7), user=winner, channel=f"D{winner}")
    assert orders.get(order_id).life == "resolved"
    client.text(f"fixed {order_id}", user=USER, channel=f"D{USER}")
    assert orders.get(order_id).status == "closed"
    live.delivered()
    assert f"Closed by {USER}" in slack.message(card["ts"])["text"]

    client.tap(slack, CLAIM, card, user="UC")  # an old card's Claim, tapped after the close
    assert slack.texts("UC")[-1] == say("en", "claim_not_open", order_id=order_id, status="closed")


def test_a_second_report_of_the_same_place_joins_the_open_order(live: Live, slack: FakeSlack, orders: Any) -> None:
    client = SlackClient(live)
    order_id = order_id_in([report(client, slack, "Gate 4, pump room")])
    live.delivered()
    [card] = duty_cards(slack)

    # another guard, the same leak: the summary asks before making a second order
    other = "U0OTHER"
    client.image(slack, photo(3), user=other, channel=f"D{other}")
    client.tap(slack, "water leak", user=other)
    client.text("gate 4,  Pump Room.", user=other, channel=f"D{other}")
    question = slack.posted[-1]
    assert order_id in question["text"] and "Same problem?" in question["text"]
    assert buttons(question) == [say("en", "choice_same"), say("en", "choice_new_order"), say("en", "choice_cancel")]
    client.tap(slack, say("en", "choice_same"), user=other)
    assert slack.posted[-1]["text"] == say("en", "joined_order", order_id=order_id)

    order = orders.get(order_id)
    assert orders.counts()["open"] == 1
    assert [r.user for r in order.reporters] == [USER, other] and len(order.photo_keys) == 2
    live.delivered()
    assert f"Also reported by 1: {other}" in slack.message(card["ts"])["text"]


def test_somewhere_else_is_a_new_order(live: Live, slack: FakeSlack, orders: Any) -> None:
    client = SlackClient(live)
    report(client, slack, "Gate 4, pump room")
    text = report(client, slack, "Building 9 roof", user="U0OTHER", seed=5)
    assert say("en", "order_created", order_id=order_id_in([text]), created="")[:20] in text
    assert orders.counts()["open"] == 2


def test_an_unclaimed_order_is_posted_again_as_overdue_at_most_max_times(
    settings: Settings, slack: FakeSlack, real_store: Any, orders: Any, storage: Any
) -> None:
    short = _settings(settings, slack, claim_sla_minutes=0.01, max_escalations=2)  # 0.6 s; high severity 0.3 s
    with live_app(short, store=real_store, orders=orders, storage=storage) as live:
        client = SlackClient(live)
        order_id = order_id_in([report(client, slack, "Gate 4, pump room")])
        wait_until(lambda: orders.get(order_id).escalations == 2, 10, "two escalations")
        # The row counts the reminder before the courier posts it: wait for the card itself.
        wait_until(lambda: len(duty_cards(slack)) == 3, 10, "the second reminder's card")
        live.delivered()
        cards = copy.deepcopy(duty_cards(slack))
        titles = [c["blocks"][0]["text"]["text"] for c in cards]
        assert titles == [
            say("en", "duty_title", order_id=order_id, alarm_type="water leak"),
            say("en", "duty_title_overdue", count=1, order_id=order_id, alarm_type="water leak"),
            say("en", "duty_title_overdue", count=2, order_id=order_id, alarm_type="water leak"),
        ]
        assert all(buttons(c) == [CLAIM] for c in cards)
        metrics = live.call("GET", "/metrics").text
        assert 'wobot_order_escalations_total{severity="' in metrics

        client.tap(slack, CLAIM, cards[2], user="UA")  # claiming from a reminder redraws every card
        live.delivered()
        assert all(buttons(slack.message(c["ts"]))[0] == say("en", "choice_start") for c in cards)


def test_an_order_not_resolved_in_time_reminds_the_assignee_then_reaches_the_supervisors(
    settings: Settings, slack: FakeSlack, real_store: Any, orders: Any, storage: Any
) -> None:
    """The resolution SLA as people see it: the assignee's reminder at 80 %, then the order's card, titled as an
    escalation, in the ESCALATION_ROUTES channel. The claim is moved back in time in the database."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from bot.adapters.sql.tables import work_orders

    supervisors = "C0SUP"
    quick = _settings(
        settings,
        slack,
        claim_sla_minutes=0.01,  # the courier sweeps every 0.2 s
        resolve_sla_hours="high:4,medium:4,low:4",
        escalation_routes=f"slack:{TEAM}={supervisors}",
    )
    with live_app(quick, store=real_store, orders=orders, storage=storage) as live:
        client = SlackClient(live)
        order_id = order_id_in([report(client, slack, "Gate 4, pump room")])
        live.delivered()
        client.tap(slack, CLAIM, duty_cards(slack)[0], user="UA")

        def claimed_ago(hours: float) -> None:
            with orders.engine.begin() as conn:
                conn.execute(
                    update(work_orders)
                    .where(work_orders.c.id == order_id)
                    .values(claimed_at=datetime.now(UTC) - timedelta(hours=hours), stage="in_progress")
                )

        due = f"Work order {order_id} (water leak) is nearly due: 3.5 of 4.0 hours used"
        claimed_ago(3.5)
        wait_until(lambda: any(due in t for t in slack.texts("UA")), 10, "the assignee's reminder")
        assert not duty_cards(slack, supervisors)

        claimed_ago(4.2)
        wait_until(lambda: duty_cards(slack, supervisors), 10, "the escalation in the supervisors' channel")
        live.delivered()
        [card] = duty_cards(slack, supervisors)
        title = say("en", "sla_escalation_title", count=1, order_id=order_id, alarm_type="water leak")
        assert card["blocks"][0]["text"]["text"] == title
        assert "Assignee: UA (claimed " in card["text"] and "4.2 of 4.0 hours used" in card["text"]
        assert buttons(card) == []
        assert sum(due in t for t in slack.texts("UA")) == 1  # reminded once
