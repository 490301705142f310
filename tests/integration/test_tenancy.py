"""Two tenants on one deployment, driven over HTTP as their users would: orders stay inside their tenant.

The app runs on a loopback port with real Redis; users talk through ``/webhook/generic`` (``tenant``
is the company), ops read the result through the admin API.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

from bot.config import Settings
from bot.dialogue.flows.lookups import WITHDRAWN_REASON
from bot.replies import say
from tests.support.admin import AUTH, TOKEN
from tests.support.engine import REDIS_URL, photo, wipe_prefix
from tests.support.live import Live, live_app, order_id_in

pytestmark = pytest.mark.integration

WEBHOOK_TOKEN = "generic-s3cret"
UNKNOWN = "WO-20990101-ABCDE"


@pytest.fixture
def live(settings: Settings, redis_client: Any) -> Iterator[Live]:
    real = settings.with_(redis_url=REDIS_URL, generic_webhook_token=WEBHOOK_TOKEN, admin_token=TOKEN)
    with live_app(real, vlm=None) as app:
        yield app
    wipe_prefix(redis_client, settings.redis_prefix)


class User:
    def __init__(self, live: Live, tenant: str, user_id: str) -> None:
        self.live, self.tenant, self.user_id = live, tenant, user_id

    def send(self, **message: Any) -> list[str]:
        body = json.dumps({"user_id": self.user_id, "tenant": self.tenant, **message}).encode()
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {WEBHOOK_TOKEN}"}
        answer = self.live.call("POST", "/webhook/generic", body, headers)
        assert answer.status == 200, answer.text
        replies: list[str] = json.loads(answer.body)["replies"]
        return replies

    def text(self, text: str) -> list[str]:
        return self.send(text=text)

    def report(self, seed: int) -> str:
        self.send(image_base64=base64.b64encode(photo(seed)).decode())
        self.text("2")
        self.text("3号楼2层东侧走廊")
        return order_id_in(self.text("确认"))


def admin_order(live: Live, order_id: str) -> dict[str, Any]:
    answer = live.call("GET", f"/admin/api/orders/{order_id}", headers=AUTH)
    assert answer.status == 200, answer.text
    order: dict[str, Any] = json.loads(answer.body)
    return order


def test_another_tenant_gets_exactly_the_unknown_id_answer(live: Live) -> None:
    alice = User(live, "acme", "alice")
    oid = alice.report(seed=1)
    # the same user id in another company is another person
    for intruder in (User(live, "evilcorp", "mallory"), User(live, "evilcorp", "alice")):
        for command in ("查工单 {}", "结单 {}", "取消工单 {}", "cancel {}"):
            theirs = intruder.text(command.format(oid))
            unknown = intruder.text(command.format(UNKNOWN))
            assert theirs == [r.replace(UNKNOWN, oid) for r in unknown] == [say("zh", "order_not_found", order_id=oid)]
        assert intruder.text("我的工单") == [say("zh", "my_orders_none")]
        assert intruder.text("状态")[0] == say("zh", "status_idle", alarm="")  # never left waiting for a photo
    assert admin_order(live, oid)["status"] == "open"


def test_a_colleague_may_not_finish_an_order_that_is_not_theirs(live: Live) -> None:
    """CLOSE_POLICY=assignee (the default): only the assignee (or the reporter) finishes an order."""
    alice, bob = User(live, "acme", "alice"), User(live, "acme", "bob")
    oid = alice.report(seed=1)
    who = "、".join(say("zh", f"role_{r}") for r in ("assignee", "ops"))
    assert bob.text(f"结单 {oid}") == [say("zh", "refuse_who", order_id=oid, roles=who)]
    assert admin_order(live, oid)["life"] == "open"


def test_with_close_policy_anyone_a_colleague_resolves_and_the_order_records_who(
    settings: Settings, redis_client: Any
) -> None:
    real = settings.with_(
        redis_url=REDIS_URL, generic_webhook_token=WEBHOOK_TOKEN, admin_token=TOKEN, close_policy="anyone"
    )
    with live_app(real, vlm=None) as live:
        alice, bob = User(live, "acme", "alice"), User(live, "acme", "bob")
        oid = alice.report(seed=1)
        asked = bob.text(f"结单 {oid}")
        assert asked == [say("zh", "ask_close_photo", order_id=oid, alarm_type="漏水", location="3号楼2层东侧走廊")]
        resolved = bob.send(image_base64=base64.b64encode(photo(3)).decode())
        assert resolved == [say("zh", "resolved_wait", order_id=oid, hours="72")]
        assert admin_order(live, oid)["life"] == "resolved"
        assert alice.text(f"已修好 {oid}")[0] == say("zh", "did_confirm", order_id=oid)
        order = admin_order(live, oid)
        assert order["status"] == "closed" and order["closed_by"] == {
            "platform": "generic",
            "tenant": "acme",
            "user": "alice",
        }
        assert [t["actor"]["user"] for t in order["timeline"] if t["kind"] == "resolved"] == ["bob"]
        assert order["cancelled_by"] is None
    wipe_prefix(redis_client, settings.redis_prefix)


def test_only_the_reporter_may_withdraw_an_order(live: Live) -> None:
    alice, bob = User(live, "acme", "alice"), User(live, "acme", "bob")
    oid = alice.report(seed=1)

    assert bob.text(f"取消工单 {oid}") == [say("zh", "withdraw_not_reporter", order_id=oid)]
    assert admin_order(live, oid)["status"] == "open"

    assert alice.text(f"cancel {oid.lower()}") == [say("zh", "withdrawn", order_id=oid)]
    order = admin_order(live, oid)
    assert order["status"] == "cancelled" and order["cancel_reason"] == WITHDRAWN_REASON
    assert order["cancelled_by"] == {"platform": "generic", "tenant": "acme", "user": "alice"}
    assert alice.text(f"取消工单 {oid}") == [
        say("zh", "withdraw_not_open", order_id=oid, status=say("zh", "status_cancelled"))
    ]
    assert alice.text("我的工单") == [say("zh", "my_orders_none")]


def test_ops_cancel_records_the_admin(live: Live) -> None:
    oid = User(live, "acme", "alice").report(seed=1)
    body = json.dumps({"reason": "duplicate of a phone report"}).encode()
    headers = {**AUTH, "Content-Type": "application/json"}
    answer = live.call("POST", f"/admin/api/orders/{oid}/cancel", body, headers)
    assert answer.status == 200, answer.text
    cancelled_by = admin_order(live, oid)["cancelled_by"]
    assert cancelled_by["platform"] == "ops" and cancelled_by["user"]
