"""What the admin API, page and CLI show: ``bot.ops`` results shaped as JSON-able dicts, in one place.

The API returns these dicts as they are, the page renders them and the CLI prints them as
tables, so all three say the same thing about a session or an order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

from bot.audit import AuditEntry
from bot.ops import Ops, SessionView, iso, pending_summary, waiting_for
from bot.paging import Page
from bot.ports import Order, Reporter
from bot.session_index import split_key

T = TypeVar("T")
Shaped = dict[str, Any]


def page(result: Page[T], shape: Callable[[T], Shaped]) -> Page[Shaped]:
    return Page([shape(item) for item in result.items], result.next_cursor)


def page_json(result: Page[Shaped]) -> Shaped:
    return {"items": result.items, "next_cursor": result.next_cursor}


def session_row(view: SessionView) -> Shaped:
    """A session in a list."""
    session = view.session
    platform, tenant, user = split_key(session.key)
    return {
        "key": session.key,
        "platform": platform,
        "tenant": tenant,
        "user": user,
        "state": session.state,
        "waiting_for": waiting_for(session),
        "pending": pending_summary(session.pending),
        "last_activity": iso(session.updated_at),
        "seconds_left": view.seconds_left,
        "turns": session.turns,
    }


def session_detail(ops: Ops, view: SessionView) -> Shaped:
    """Everything about one session: the row, every pending field, the history with photo links."""
    session = view.session
    pending = dict(session.pending)
    if pending.get("image_key"):
        pending["image_url"] = ops.image_url(pending["image_key"])
    history = []
    for entry in session.history:
        item = dict(entry)
        item["at"] = iso(entry.get("at"))
        if entry.get("image_key"):
            item["image_url"] = ops.image_url(entry["image_key"])
        history.append(item)
    return {**session_row(view), "pending": pending, "history": history, "created_at": iso(session.created_at)}


def _person(who: Reporter | None) -> Shaped | None:
    if who is None:
        return None
    return {"platform": who.platform, "tenant": who.tenant, "user": who.user}


def order_row(ops: Ops, order: Order) -> Shaped:
    """An order in a list, with links to its photos."""
    r = order.reporter
    return {
        "id": order.id,
        "status": order.status,
        "alarm_type": order.alarm_type,
        "description": order.description,
        "severity": order.severity,
        "location": order.location_text,
        "latitude": order.latitude,
        "longitude": order.longitude,
        "reporter": {
            "platform": r.platform,
            "tenant": r.tenant,
            "user": r.user,
            "session_key": f"{r.platform}:{r.tenant}:{r.user}",
        },
        "alarm_id": order.alarm_id,
        "created_at": iso(order.created_at),
        "closed_at": iso(order.closed_at),
        "vlm_resolved": order.vlm_resolved,
        "vlm_reason": order.vlm_reason,
        "cancel_reason": order.cancel_reason,
        "closed_by": _person(order.closed_by),
        "cancelled_by": _person(order.cancelled_by),
        "report_photo": _photo(ops, order.report_photo_key),
        "close_photo": _photo(ops, order.close_photo_key),
    }


def order_detail(ops: Ops, order: Order) -> Shaped:
    """The row and the conversation that led to the order."""
    history = [
        {**h, "at": iso(h.get("at")) if isinstance(h.get("at"), (int, float)) else h.get("at")}
        | ({"image_url": ops.image_url(h["image_key"])} if h.get("image_key") else {})
        for h in order.history
    ]
    return {**order_row(ops, order), "history": history}


def audit_row(entry: AuditEntry) -> Shaped:
    return dataclasses.asdict(entry)


def _photo(ops: Ops, key: str | None) -> Shaped | None:
    return {"key": key, "url": ops.image_url(key)} if key else None
