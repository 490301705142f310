"""Outbound order events end to end: the real app on real Redis, driven over ``/webhook/generic``, POSTs
every order event to a local receiver that checks the signature the way the README tells receivers to,
refuses the first two attempts, then accepts. A receiver that refuses for good (4xx) leaves the event in
``GET /admin/api/deliveries?status=failed``, from where it is retried."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from bot.config import Settings
from tests.fakes.loopback import LoopbackServer
from tests.support.engine import photo
from tests.support.live import Live, live_app, order_id_in, wait_until

pytestmark = pytest.mark.integration

SECRET = "whsec-test-1"
ADMIN = "admin-token-for-events"


def verify(secret: str, headers: Any, body: bytes, now: float, tolerance: float = 300) -> bool:
    """The receiver's check, as the README's example writes it."""
    timestamp = headers["X-Wobot-Timestamp"]
    expected = "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    fresh = abs(now - int(timestamp)) <= tolerance
    return fresh and hmac.compare_digest(expected, headers["X-Wobot-Signature"])


class Receiver(LoopbackServer):
    """Answers ``refuse`` (a status) to the first ``failures`` attempts, then 200; records what it accepted."""

    name = "receiver"

    def __init__(self, failures: int = 2, refuse: int = 503) -> None:
        super().__init__()
        self.failures, self.refuse = failures, refuse
        self.attempts: list[str] = []
        self.accepted: list[dict] = []
        self.bad_signatures = 0
        self._lock = threading.Lock()

    def handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver._lock:
                    if not verify(SECRET, self.headers, body, time.time()):
                        receiver.bad_signatures += 1
                        status = 401
                    else:
                        receiver.attempts.append(self.headers["X-Wobot-Event-Id"])
                        refused = len(receiver.attempts) <= receiver.failures
                        status = receiver.refuse if refused else 200
                        if not refused:
                            receiver.accepted.append(json.loads(body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


def _settings(settings: Settings, receiver: Receiver) -> Settings:
    return settings.with_(
        language="en",
        order_webhook_url=f"{receiver.root_url}/hooks/wobot",
        order_webhook_secret=SECRET,
        order_webhook_retry_base_seconds=0.05,
        admin_token=ADMIN,
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as server:
        yield server


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def say_(live: Live, user: str, **body: Any) -> dict:
    answer = live.call(
        "POST",
        "/webhook/generic",
        body=json.dumps({"user_id": user, "tenant": "acme", **body}).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert answer.status == 200, answer.text
    return json.loads(answer.body)


def report(live: Live, user: str, place: str, seed: int) -> str:
    say_(live, user, image_base64=b64(photo(seed)))
    say_(live, user, text="type water leak")
    say_(live, user, text=place)
    return order_id_in(say_(live, user, text="confirm")["replies"])


def test_every_event_is_delivered_signed_and_in_order_after_two_refusals(
    settings: Settings, receiver: Receiver, real_store: Any, orders: Any, storage: Any
) -> None:
    with live_app(_settings(settings, receiver), store=real_store, orders=orders, storage=storage) as live:
        first = report(live, "guard1", "Gate 4", seed=1)
        say_(live, "tech7", text=f"claim {first}")
        say_(live, "tech7", text=f"close {first}")
        say_(live, "tech7", image_base64=b64(photo(9)))  # the assignee's fix: resolved, the reporter is asked
        say_(live, "guard1", text=f"fixed {first}")
        second = report(live, "guard2", "Building 9 roof", seed=2)
        say_(live, "guard2", text=f"cancel {second}")
        live.delivered()
        wait_until(lambda: len(receiver.accepted) == 6, 10, "six events accepted")

    assert receiver.bad_signatures == 0
    assert len(receiver.attempts) == 8  # two refused, then each of the six once
    kinds = {
        order_id: [e["type"] for e in receiver.accepted if e["order"]["id"] == order_id] for order_id in (first, second)
    }
    assert kinds == {
        first: ["order.created", "order.claimed", "order.resolved", "order.confirmed"],
        second: ["order.created", "order.cancelled"],
    }
    claimed = next(e for e in receiver.accepted if e["type"] == "order.claimed")
    assert claimed["order"]["assignee"] == {"platform": "generic", "tenant": "acme", "user": "tech7"}
    assert claimed["order"]["location"]["text"] == "Gate 4" and claimed["order"]["photos"][0]["key"]
    assert len({e["id"] for e in receiver.accepted}) == 6


def test_a_refused_event_is_listed_as_failed_and_can_be_retried(
    settings: Settings, real_store: Any, orders: Any, storage: Any
) -> None:
    with (
        Receiver(failures=1, refuse=400) as receiver,
        live_app(_settings(settings, receiver), store=real_store, orders=orders, storage=storage) as live,
    ):
        order_id = report(live, "guard1", "Gate 4", seed=1)
        live.delivered()
        auth = {"Authorization": f"Bearer {ADMIN}"}
        listed = json.loads(live.call("GET", "/admin/api/deliveries", headers=auth, query={"status": "failed"}).body)
        [failed] = listed["items"]
        assert failed["sink"] == "webhook" and failed["event"]["order"]["id"] == order_id
        assert failed["attempts"] == 1 and failed["last_error"] == "HTTP 400"
        assert receiver.accepted == []

        event_id = failed["event"]["id"]
        assert live.call("POST", f"/admin/api/deliveries/{event_id}/retry", headers=auth).status == 200
        live.delivered()
        assert [e["id"] for e in receiver.accepted] == [event_id]
        assert json.loads(live.call("GET", "/admin/api/deliveries", headers=auth).body)["items"] == []
        assert live.call("POST", f"/admin/api/deliveries/{event_id}/retry", headers=auth).status == 404
        bad = live.call("GET", "/admin/api/deliveries", headers=auth, query={"status": "sent"})
        assert bad.status == 400

        sheet = live.call("GET", "/admin/api/orders.csv", headers=auth, query={"status": "open", "tenant": "acme"})
        assert sheet.status == 200 and sheet.headers["Content-Type"].startswith("text/csv")
        assert sheet.body.startswith("\ufeff".encode()) and order_id in sheet.text
        assert "attachment" in sheet.headers["Content-Disposition"]
        assert live.call("GET", "/admin/api/orders.csv", headers=auth, query={"from": "yesterday"}).status == 400
