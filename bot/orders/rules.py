"""The order's rules after it exists: claiming it, escalating the unclaimed ones, spotting a duplicate report.

What the duty chat and other systems hear of it goes through ``bot.orders.events`` (the ``Events`` port); this module
decides what happened. No platform, no HTTP.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.config import Settings
from bot.dialogue import intents
from bot.images import hamming
from bot.orders.events import Events
from bot.ports import Order, OrderError, OrderNotFound, Reporter, ServiceError, Tenant, WorkOrders
from bot.replies import say
from bot.sites.geo import distance_m

log = logging.getLogger(__name__)

SAME_PHOTO_BITS = 6  # dHash bits two photos of one spot may differ by (bot.images.same_picture's bound)


@dataclass(frozen=True)
class Claim:
    """What a claim came to: ``won`` (this person is now the assignee), or the order as it is."""

    order: Order | None
    won: bool = False
    problem: str = ""  # "", "unknown" or "not_open"


def claim(orders: WorkOrders, events: Events, order_id: str, by: Reporter) -> Claim:
    """Claim an order for ``by`` (first tap wins across every process); the event only for the winner."""
    try:
        order, won = orders.claim(order_id, by)
    except OrderNotFound:
        return Claim(None, problem="unknown")
    except OrderError:
        return Claim(orders.get(order_id, by.home), problem="not_open")
    return Claim(order, won)  # ``order.claimed`` is written with the claim, in its transaction


def claim_reply(language: str, outcome: Claim, order_id: str) -> str:
    """What the person who claimed (by a tap or by typing) is told."""
    order = outcome.order
    if order is None:
        return say(language, "claim_unknown", order_id=order_id)
    if outcome.won:
        return say(language, "claim_won", order_id=order.id)
    if outcome.problem == "not_open":
        return say(language, "claim_not_open", order_id=order.id, status=say(language, f"life_{order.life}"))
    who = order.assignee.user if order.assignee else "?"
    return say(language, "claim_taken", order_id=order.id, who=who)


def sweep(
    orders: WorkOrders,
    events: Events,
    settings: Settings,
    now: datetime,
    on_escalation: Callable[[Order], None] | None = None,
) -> int:
    """Post again, as overdue, every open order unclaimed for its SLA since it was last posted: once per
    period, at most ``MAX_ESCALATIONS`` times. Safe to run in every process at once: each escalation is
    a conditional update only one of them wins. Returns how many this call escalated."""
    shortest = min(settings.claim_sla_seconds("high"), settings.claim_sla_seconds("medium"))
    escalated = 0
    for order in orders.overdue(now - timedelta(seconds=shortest), settings.max_escalations):
        last = order.escalated_at or order.created_at
        if (now - last).total_seconds() < settings.claim_sla_seconds(order.severity):
            continue
        won = orders.mark_escalated(order.id, order.escalations)
        if won is None:
            continue
        escalated += 1
        if on_escalation is not None:
            on_escalation(won)
    return escalated


def _near(lat: float | None, lng: float | None, order: Order, radius: float) -> bool:
    if lat is None or lng is None or order.latitude is None or order.longitude is None:
        return False
    return distance_m(lat, lng, order.latitude, order.longitude) <= radius


def same_place_text(a: str, b: str) -> bool:
    """The same place typed twice: equal once width, case, spaces and punctuation are folded."""
    fold = _place_key(a)
    return bool(fold) and fold == _place_key(b)


def _place_key(text: str) -> str:
    return "".join(ch for ch in intents.normalize(text).lower() if ch.isalnum())


def _same_site(location: dict[str, Any], order: Order) -> bool:
    """Both on the same registry site (``bot.sites``): the same place, whatever words or coordinates."""
    site = location.get("site")
    return isinstance(site, dict) and bool(site.get("id")) and order.site is not None and order.site.id == site["id"]


def find_same(
    orders: WorkOrders,
    settings: Settings,
    home: Tenant,
    alarm_type: str,
    location: dict[str, Any],
    photo_hash: str | None,
) -> Order | None:
    """An open order of the tenant that this report seems to repeat: same alarm type, and the same place
    (the same registry site, text, or coordinates within ``DUPLICATE_RADIUS_METERS``) or a near-identical photo.
    None when the database cannot be asked (a report must never be blocked by this check)."""
    try:
        candidates = orders.open_like(home, alarm_type)
    except ServiceError:
        return None
    lat, lng, label = location.get("latitude"), location.get("longitude"), location.get("label") or ""
    mine = int(photo_hash, 16) if photo_hash else None
    for order in candidates:
        if _same_site(location, order):
            return order
        if _near(lat, lng, order, settings.duplicate_radius_meters):
            return order
        if label and same_place_text(label, order.location_text):
            return order
        if mine is not None and order.photo_hash and hamming(mine, int(order.photo_hash, 16)) <= SAME_PHOTO_BITS:
            return order
    return None
