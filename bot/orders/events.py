"""Order events as the domain sees them: their kinds, their record, and the ports that emit and deliver them.

The Redis outbox that keeps them until each sink has them is ``bot.adapters.redis.outbox``.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from bot.ports import Order, Reporter

log = logging.getLogger(__name__)

EventType = Literal[
    "order.created",
    "order.claimed",
    "order.closed",
    "order.cancelled",
    "order.escalated",
    "order.duplicate_reported",
    "order.reminded",  # the resolution SLA's 80 % reminder to the assignee (details: sla, used/limit hours)
    # the order's life after the claim (bot.orders.life)
    "order.started",
    "order.on_hold",
    "order.resumed",
    "order.handed_over",
    "order.unclaimed",
    "order.resolved",
    "order.reopened",
    "order.confirmed",
    "order.note_added",
]
EVENT_TYPES: tuple[str, ...] = EventType.__args__  # type: ignore[attr-defined]

MAX_AGE_SECONDS = 24 * 3600  # an event still failing after this long is given up (and shown as failed)
MAX_BACKOFF_SECONDS = 3600.0
LEASE_MS = 60_000  # a process that dies holding an order's lease gives it up after this long
BATCH = 20  # orders a courier takes per sink per round


def person(who: Reporter | None) -> dict[str, str] | None:
    return None if who is None else {"platform": who.platform, "tenant": who.tenant, "user": who.user}


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def order_record(order: Order) -> dict[str, Any]:
    """An order as other systems read it (events, export): every field, times in UTC ISO 8601."""
    return {
        "id": order.id,
        "status": order.status,
        "life": order.life,
        "alarm_type": order.alarm_type,
        "severity": order.severity,
        "description": order.description,
        "note": order.note,
        "location": {"text": order.location_text, "latitude": order.latitude, "longitude": order.longitude},
        "site_id": order.site.id if order.site else None,
        "site_name": order.site.name if order.site else None,
        "zone": (order.site.zone or None) if order.site else None,
        "reporter": person(order.reporter),
        "more_reporters": [person(r) for r in order.more_reporters],
        "assignee": person(order.assignee),
        "photo_keys": list(order.photo_keys),
        "voice_keys": list(order.voice_keys),
        "close_photo_key": order.close_photo_key,
        "alarm_id": order.alarm_id,
        "created_at": _iso(order.created_at),
        "claimed_at": _iso(order.claimed_at),
        "closed_at": _iso(order.closed_at),
        "escalations": order.escalations,
        "started_at": _iso(order.started_at),
        "hold_reason": order.hold_reason,
        "held_seconds": order.held_seconds,
        "resolved_at": _iso(order.resolved_at),
        "auto_confirmed": order.auto_confirmed,
        "reopen_count": order.reopen_count,
        "rating": order.rating,
        "vlm_resolved": order.vlm_resolved,
        "vlm_reason": order.vlm_reason,
        "cancel_reason": order.cancel_reason,
        "closed_by": person(order.closed_by),
        "cancelled_by": person(order.cancelled_by),
    }


def make_event(kind: EventType, order: Order, **details: Any) -> dict[str, Any]:
    """The event as every sink receives it: a fresh id, its type, when, the order as it is now, and details."""
    return {
        "id": f"evt_{secrets.token_hex(12)}",
        "type": kind,
        "occurred_at": datetime.now(UTC).isoformat(),
        "order": order_record(order),
        **({"details": details} if details else {}),
    }


@dataclass(frozen=True)
class Delivery:
    """What one delivery attempt came to: done, try again (after ``after`` seconds if the receiver said),
    or failed for good (``detail`` says why, without secrets)."""

    ok: bool
    retry: bool = False
    detail: str = ""
    after: float | None = None


DELIVERED = Delivery(ok=True)


class Sink(Protocol):
    name: str

    def wants(self, event: dict[str, Any]) -> bool:
        """Does this sink deliver this event at all (a duty chat configured for the order…)?"""
        ...

    def deliver(self, event: dict[str, Any]) -> Delivery: ...


class Events(Protocol):
    def emit(self, kind: EventType, order: Order, **details: Any) -> None:
        """Record that ``kind`` happened to ``order`` (``details``: who, the duplicate's reporter…)."""
        ...


class NoEvents(Events):
    """Tests and tools that run no couriers."""

    def emit(self, kind: EventType, order: Order, **details: Any) -> None:
        return None
