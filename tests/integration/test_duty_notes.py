"""A duty-thread note whose photo was stored before the order took it: refused (the order unknown) or failed (the
orders database down), the photo is deleted — no file is left that no order holds.

The reply is a Slack channel ``message`` with ``thread_ts`` and a photo ``file_share``, as in
tests/integration/test_life_slack.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.ports import ServiceError
from bot.replies import say
from handlers.runner import duty_notes
from tests.fakes.platform_servers import FakeSlack
from tests.integration import test_duty_slack as duty_tests
from tests.integration import test_life_slack as life_tests
from tests.support.engine import photo
from tests.support.live import Live, live_app, order_id_in
from tests.support.slack import SlackClient

pytestmark = pytest.mark.integration

slack = duty_tests.slack
TECH = life_tests.TECH


@pytest.fixture
def live(settings: Settings, slack: FakeSlack, real_store: Any, orders: Any, storage: Any) -> Iterator[Live]:
    with live_app(duty_tests._settings(settings, slack), store=real_store, orders=orders, storage=storage) as app:
        yield app


def files(root: str) -> set[Path]:
    return {Path(d, f) for d, _, names in os.walk(root) for f in names}


def card_of_a_report(live: Live, slack: FakeSlack, client: SlackClient) -> tuple[str, dict]:
    order_id = order_id_in([duty_tests.report(client, slack, "Gate 4, pump room")])
    life_tests._settle(live, slack)
    [card] = duty_tests.duty_cards(slack)
    return order_id, card


def photo_in_thread(slack: FakeSlack, client: SlackClient, card: dict) -> None:
    thread = {"channel": duty_tests.DUTY, "channel_type": "channel", "thread_ts": card["ts"]}
    client.image(slack, photo(7), user=TECH, **thread)


def test_a_refused_notes_photo_is_deleted(live: Live, slack: FakeSlack, orders: Any, settings: Settings) -> None:
    client = SlackClient(live)
    order_id, card = card_of_a_report(live, slack, client)
    key = duty_notes.thread_key(live.runtime, "slack", duty_tests.DUTY, card["ts"])
    live.runtime.store.redis.set(key, "WO-20200101-ZZZZZ")  # the thread leads to an order there is no longer
    before = files(settings.storage_dir)
    photo_in_thread(slack, client, card)
    life_tests._settle(live, slack)
    assert files(settings.storage_dir) == before  # stored for the note, deleted once the note was refused
    assert [r for r in orders.timeline(order_id) if r["kind"] == "note_added"] == []


def test_a_failed_notes_photo_is_deleted(
    live: Live, slack: FakeSlack, orders: Any, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = SlackClient(live)
    order_id, card = card_of_a_report(live, slack, client)

    def down(*args: Any, **kwargs: Any) -> Any:
        raise ServiceError("orders database down")

    monkeypatch.setattr(duty_notes.moves, "act", down)
    before = files(settings.storage_dir)
    photo_in_thread(slack, client, card)
    life_tests._settle(live, slack)
    monkeypatch.undo()
    assert files(settings.storage_dir) == before
    assert [r for r in orders.timeline(order_id) if r["kind"] == "note_added"] == []
    life_tests._hears(slack, TECH, say("en", "orders_down"))
