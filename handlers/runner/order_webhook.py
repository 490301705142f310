"""``ORDER_WEBHOOK_URL``: every order event POSTed to another system, signed: the ``webhook`` sink.

The body is ``{"id", "type", "occurred_at", "order": {…, "photos": [{"key", "url"}]}}`` (the order
as ``bot.orders.events.order_record`` writes it, with photo links made fresh at each attempt). Headers:
``X-Wobot-Event-Id``, ``X-Wobot-Timestamp`` (unix seconds) and ``X-Wobot-Signature:
sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" with ORDER_WEBHOOK_SECRET>``. A 2xx is delivered;
no answer, a timeout, 408, 429 and 5xx are tried again later (``bot.adapters.redis.outbox``: backoff from
``ORDER_WEBHOOK_RETRY_BASE_SECONDS``, for up to 24 h); any other 4xx is a failure for good, logged
and listed by ``GET /admin/api/deliveries?status=failed``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

from bot.orders.events import DELIVERED, Delivery
from bot.ports import ObjectStore
from handlers.platforms import http_client as http

PHOTO_LINK_SECONDS = 7 * 24 * 3600  # the longest an S3 presigned URL may live
TIMEOUT_SECONDS = 10.0
_RETRIED_4XX = (408, 429)


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """What ``X-Wobot-Signature`` carries for this body at this timestamp."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class OrderWebhook:
    name = "webhook"

    def __init__(self, url: str, secret: str, storage: ObjectStore, *, clock: Callable[[], float] = time.time) -> None:
        self.url, self._secret, self.storage, self.clock = url, secret, storage, clock

    def wants(self, event: dict[str, Any]) -> bool:
        return True

    def body(self, event: dict[str, Any]) -> bytes:
        order = dict(event["order"])
        order["photos"] = [{"key": key, "url": self._link(key)} for key in order.get("photo_keys") or []]
        payload = {"id": event["id"], "type": event["type"], "occurred_at": event["occurred_at"], "order": order}
        if event.get("details"):
            payload["details"] = event["details"]
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()

    def _link(self, key: str) -> str | None:
        try:
            return self.storage.url(key, PHOTO_LINK_SECONDS)
        except Exception:  # a link is a courtesy: the event goes out without it
            return None

    def deliver(self, event: dict[str, Any]) -> Delivery:
        body = self.body(event)
        timestamp = str(int(self.clock()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "wobot-order-events/1",
            "X-Wobot-Event-Id": event["id"],
            "X-Wobot-Timestamp": timestamp,
            "X-Wobot-Signature": signature(self._secret, timestamp, body),
        }
        try:
            resp = http.request("POST", self.url, data=body, headers=headers, timeout=TIMEOUT_SECONDS)
        except http.HttpError as exc:
            return Delivery(ok=False, retry=True, detail=str(exc))
        if 200 <= resp.status < 300:
            return DELIVERED
        detail = f"HTTP {resp.status}"
        if resp.status >= 500 or resp.status in _RETRIED_4XX:
            return Delivery(ok=False, retry=True, detail=detail, after=resp.retry_after())
        return Delivery(ok=False, detail=detail)
