"""The generic webhook's buttons: ``actions`` in each answer, ``action`` sent back — a report and a close
driven by taps, and ids that are stale, unknown or malformed."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from flask.testing import FlaskClient

from bot.adapters.sql.orders import SqlWorkOrders
from bot.replies import say
from tests.support.engine import photo
from tests.unit.test_generic_webhook import client, make_client  # noqa: F401 - fixtures

URL = "/webhook/generic"


def post(client: FlaskClient, **body: Any) -> dict[str, Any]:
    answer = client.post(URL, json={"user_id": "wang", **body})
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def tap(client: FlaskClient, answer: dict[str, Any], label: str) -> dict[str, Any]:
    """Send back the id of the action labelled ``label`` in ``answer``, as a client app would."""
    ids = {a["label"]: a["id"] for a in answer["actions"]}
    assert label in ids, list(ids)
    return post(client, action=ids[label])


def test_report_and_close_by_actions(client: FlaskClient, orders: SqlWorkOrders) -> None:
    asked = post(client, image_base64=base64.b64encode(photo(1)).decode())
    where = tap(client, asked, "漏水")
    assert where["state"] == "waiting_location" and where["replies"][-1] == say("zh", "ask_location")
    summary = post(client, text="3号楼东门")
    done = tap(client, summary, say("zh", "choice_confirm"))
    order_id = done["order_id"]
    assert order_id and orders.get(order_id).status == "open"  # type: ignore[union-attr]

    question = post(client, image_base64=base64.b64encode(photo(2)).decode())
    closed = tap(client, question, say("zh", "choice_order", short=order_id[-5:], what="漏水"))
    assert closed["order_id"] == order_id and orders.get(order_id).status == "closed"  # type: ignore[union-attr]
    assert tap(client, question, say("zh", "choice_new"))["replies"][0] == say("zh", "choice_closed")


@pytest.mark.parametrize("action", ["deadbeef.confirm", "nonsense", "a.b.c"])
def test_a_stale_or_unknown_action_is_answered_200(client: FlaskClient, action: str) -> None:
    answer = post(client, action=action)
    assert answer["replies"] == [say("zh", "choice_closed"), say("zh", "idle_text")] and answer["state"] == "idle"


@pytest.mark.parametrize("action", ["", "   ", 7, None, ["x"], "x" * 300])
def test_a_malformed_action_is_400(client: FlaskClient, action: Any) -> None:
    body: dict[str, Any] = {"user_id": "wang", "action": action}
    answer = client.post(URL, json=body)
    expected = "send exactly one of" if action is None else "action must be"
    assert answer.status_code == 400 and expected in answer.get_json()["error"]


def test_action_with_text_is_400(client: FlaskClient) -> None:
    answer = client.post(URL, json={"user_id": "wang", "action": "x.confirm", "text": "确认"})
    assert answer.status_code == 400
