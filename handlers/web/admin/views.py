"""What the admin API, page and CLI show: ``bot.ops`` results shaped as JSON-able dicts, in one place.

The API returns these dicts as they are, the page renders them and the CLI prints them as
tables, so all three say the same thing about a session or an order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

from bot.dialogue.next_step import Need, next_steps
from bot.messages import person_key
from bot.ops import Ops, SessionView
from bot.orders.duty_card import map_link
from bot.paging import Page
from bot.ports import Order, Reporter
from bot.session_admin import AuditEntry, iso, pending_summary, split_key

T = TypeVar("T")
Shaped = dict[str, Any]


def page(result: Page[T], shape: Callable[[T], Shaped]) -> Page[Shaped]:
    return Page([shape(item) for item in result.items], result.next_cursor)


def page_json(result: Page[Shaped]) -> Shaped:
    return {"items": result.items, "next_cursor": result.next_cursor}


# What each step the bot accepts next is, as an on-call engineer reads it at 3 a.m.
_NEED_WORDS: dict[Need, str] = {
    "location": "the location of the problem",
    "alarm_type": "the alarm type (confirm is refused until one is chosen)",
    "confirm": 'the user to reply "confirm"',
    "close_photo": "a photo of the fixed site",
    "photo": "a photo",
    "place_check": "a yes or no: the bot asked whether a text it was not sure of is the place",
    "photo_use": "what the photo sent is for: a new report, or the fix of one of the user's orders",
}
_NEED_SHORT: dict[Need, str] = {
    "location": "location",
    "alarm_type": "alarm type",
    "confirm": "confirm",
    "close_photo": "photo of the fix",
    "photo": "photo",
    "place_check": "is that the place?",
    "photo_use": "new report or fix?",
}


def waiting_for(steps: list[Need], order_id: str | None) -> str | None:
    """``["alarm_type", "confirm"]`` → "the alarm type (…), then: confirm"; None in idle."""
    if not steps:
        return None
    first = _NEED_WORDS[steps[0]] + (f" for {order_id}" if steps[0] == "close_photo" and order_id else "")
    rest = ", ".join(_NEED_SHORT[step] for step in steps[1:])
    return f"{first}, then: {rest}" if rest else first


def pending_view(ops: Ops, pending: dict[str, Any]) -> Shaped:
    """The pending fields a person needs, without internals: the photo, type, place (with a map link), order."""
    shown: Shaped = {}
    if pending.get("image_key"):
        shown["photo"] = _photo(ops, pending["image_key"])
    more = [_photo(ops, key) for key, _ in pending.get("more_photos") or []]
    if more:
        shown["more_photos"] = more
    if pending.get("alarm_type"):
        shown["alarm_type"] = pending["alarm_type"]
    elif pending.get("image_key"):
        reason = {"off": "no VLM", "error": "the photo analysis failed"}.get(pending.get("analysis_failed") or "")
        shown["alarm_type"] = "not chosen yet" + (f" ({reason})" if reason else "")
    for name in ("severity", "description", "order_id", "alarm_id"):
        if pending.get(name):
            shown[name] = pending[name]
    place = pending.get("location")
    if isinstance(place, dict):
        lat, lng = place.get("latitude"), place.get("longitude")
        where = (lat, lng) if isinstance(lat, (int, float)) and isinstance(lng, (int, float)) else None
        text = str(place.get("label") or "") or (f"{where[0]:.6f}, {where[1]:.6f}" if where else "")
        if text:
            shown["location"] = {"text": text, "map_url": map_link(*where) if where else None}
    return shown


def session_row(view: SessionView) -> Shaped:
    """A session in a list."""
    session = view.session
    platform, tenant, user = split_key(person_key(session.key, session.chat))
    steps = next_steps(session.state, session.pending)
    return {
        "key": session.key,
        "platform": platform,
        "tenant": tenant,
        "user": user,
        "chat": session.chat,
        "state": session.state,
        "waiting_for": waiting_for(steps, session.pending.get("order_id")),
        "next_steps": steps,
        "pending": pending_summary(session.pending),
        "last_activity": iso(session.updated_at),
        "seconds_left": view.seconds_left,
        "turns": session.turns,
    }


def session_detail(ops: Ops, view: SessionView) -> Shaped:
    """Everything about one session: the row, every pending field, the history with photo links."""
    session = view.session
    shown = pending_view(ops, session.pending)
    pending = dict(session.pending)
    if shown.get("photo"):
        pending["image_url"] = shown["photo"]["url"]  # one link per photo, not a second presign
    history = []
    for entry in session.history:
        item = dict(entry)
        item["at"] = iso(entry.get("at"))
        if entry.get("image_key"):
            item["image_url"] = ops.image_url(entry["image_key"])
        history.append(item)
    return {
        **session_row(view),
        "pending": pending,
        "pending_view": shown,
        "history": history,
        "created_at": iso(session.created_at),
    }


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
        "life": order.life,
        "alarm_type": order.alarm_type,
        "description": order.description,
        "note": order.note,
        "severity": order.severity,
        "location": order.location_text,
        "latitude": order.latitude,
        "longitude": order.longitude,
        "site": None if order.site is None else {"id": order.site.id, "name": order.site.name, "zone": order.site.zone},
        "place_source": order.site.source if order.site else None,
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
        "more_report_photos": [_photo(ops, key) for key in order.more_photo_keys],
        "close_photo": _photo(ops, order.close_photo_key),
        "voice_notes": [_photo(ops, key) for key in order.voice_keys],
        "assignee": _person(order.assignee),
        "claimed_at": iso(order.claimed_at),
        "escalations": order.escalations,
        "more_reporters": [_person(who) for who in order.more_reporters],
        "hold_reason": order.hold_reason,
        "held_seconds": order.held_seconds,
        "resolved_at": iso(order.resolved_at),
        "auto_confirmed": order.auto_confirmed,
        "reopen_count": order.reopen_count,
        "rating": order.rating,
    }


def order_detail(ops: Ops, order: Order) -> Shaped:
    """The row, its timeline (every move: who, when, from, to, why; notes) and the conversation that led to it."""
    timeline = [timeline_row(ops, row) for row in ops.orders.timeline(order.id)]
    history = [
        {**h, "at": iso(h.get("at")) if isinstance(h.get("at"), (int, float)) else h.get("at")}
        | ({"image_url": ops.image_url(h["image_key"])} if h.get("image_key") else {})
        for h in order.history
    ]
    return {**order_row(ops, order), "timeline": timeline, "history": history}


def timeline_row(ops: Ops, row: dict[str, Any]) -> Shaped:
    """One row of ``order_timeline`` (NULL actor: the bot itself); a photo's or a voice note's key comes with its
    link."""
    detail = dict(row.get("detail") or {})
    actor = row.get("actor_user")
    return {
        "at": iso(row["at"]),
        "kind": row["kind"],
        "from": row.get("from_status"),
        "to": row.get("to_status"),
        "actor": None
        if actor is None
        else {"platform": row.get("actor_platform"), "tenant": row.get("actor_tenant"), "user": actor},
        "reason": row.get("reason"),
        "detail": detail,
        "photo": _photo(ops, detail.get("photo_key")),
        "voice": _photo(ops, detail.get("voice_key")),
    }


def audit_row(entry: AuditEntry) -> Shaped:
    return dataclasses.asdict(entry)


def _photo(ops: Ops, key: str | None) -> Shaped | None:
    return {"key": key, "url": ops.image_url(key)} if key else None
