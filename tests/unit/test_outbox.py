"""The outbox on fakeredis: per-order order, backoff, giving up, and an event emitted while its order's head
is being delivered (the moment a schedule entry could be lost) is still delivered."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import fakeredis

from bot.adapters.redis.outbox import Outbox
from bot.orders.events import DELIVERED, Delivery
from bot.ports import Order, Reporter


def order(order_id: str) -> Order:
    return Order(
        id=order_id,
        status="open",
        alarm_type="漏水",
        description="",
        severity="high",
        location_text="",
        latitude=None,
        longitude=None,
        report_photo_key="k",
        close_photo_key=None,
        vlm_resolved=None,
        vlm_reason=None,
        reporter=Reporter("slack", "T1", "u"),
        alarm_id=None,
        created_at=datetime.now(UTC),
        closed_at=None,
        history=[],
    )


class Sink:
    name = "test"

    def __init__(self) -> None:
        self.answers: list[Delivery] = []
        self.got: list[tuple[str, str]] = []
        self.during: Any = None

    def wants(self, event: dict[str, Any]) -> bool:
        return True

    def deliver(self, event: dict[str, Any]) -> Delivery:
        if self.during is not None:
            self.during, during = None, self.during
            during()
        answer = self.answers.pop(0) if self.answers else DELIVERED
        if answer.ok:
            self.got.append((event["order"]["id"], event["type"]))
        return answer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def outbox() -> tuple[Outbox, Sink, Clock]:
    sink, clock = Sink(), Clock()
    box = Outbox(fakeredis.FakeRedis(), lambda *p: ":".join(("t", *p)), [sink], retry_base_seconds=5, clock=clock)
    return box, sink, clock


def drain(box: Outbox) -> None:
    while box.run_once():
        pass


def test_an_event_emitted_while_the_head_is_delivered_is_delivered_after_it() -> None:
    box, sink, _ = outbox()
    box.emit("order.created", order("A"))
    sink.during = lambda: box.emit("order.claimed", order("A"))
    drain(box)
    assert sink.got == [("A", "order.created"), ("A", "order.claimed")]
    assert box.pending_count() == {"test": 0}


def test_a_retry_waits_its_backoff_and_keeps_the_order_s_later_events_behind_it() -> None:
    box, sink, clock = outbox()
    sink.answers = [Delivery(ok=False, retry=True, detail="HTTP 503")]
    box.emit("order.created", order("A"))
    box.emit("order.claimed", order("A"))
    box.emit("order.created", order("B"))
    drain(box)
    assert sink.got == [("B", "order.created")]  # A waits 5 s; B is not held up by it
    clock.now += 5
    drain(box)
    assert sink.got[1:] == [("A", "order.created"), ("A", "order.claimed")]


def test_a_refusal_for_good_is_listed_and_the_next_event_goes_on() -> None:
    box, sink, _ = outbox()
    sink.answers = [Delivery(ok=False, detail="HTTP 400")]
    box.emit("order.created", order("A"))
    box.emit("order.closed", order("A"))
    drain(box)
    assert sink.got == [("A", "order.closed")]
    [failed] = box.failed()
    assert failed["event"]["type"] == "order.created" and failed["last_error"] == "HTTP 400"
    assert box.retry_failed(failed["event"]["id"]) is not None
    drain(box)
    assert sink.got[-1] == ("A", "order.created") and box.failed() == []
