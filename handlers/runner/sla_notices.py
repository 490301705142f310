"""The resolution SLA's messages (``bot.orders.sla``), delivered by the duty sink outside any turn:

* ``order.reminded``: the assignee hears, in a direct message, that the order is nearly due;
* ``order.escalated`` with ``details.sla = "resolve"``: the order's card, titled as an escalation and saying
  who has it and how much of the SLA is used, is posted to the ``ESCALATION_ROUTES`` chat for its type, site or
  zone (the duty chat when no route names one; ``bot.orders.duty_routes.order_target``, as the duty card). A retry
  never posts it twice (``{p}:sla-cards:<order>`` remembers the postings, ``handlers/runner/card_posts.py``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from bot.orders.duty_card import duty_card
from bot.orders.duty_routes import order_target
from bot.ports import Order
from bot.replies import say
from handlers.runner.card_posts import post_once

if TYPE_CHECKING:
    from handlers.platforms.base import PlatformModule
    from handlers.runner.runtime import Runtime

POSTED_TTL_SECONDS = 30 * 24 * 3600


def is_sla_event(event: dict[str, Any]) -> bool:
    details = event.get("details") or {}
    return event["type"] == "order.reminded" or (event["type"] == "order.escalated" and details.get("sla") == "resolve")


def deliver_sla(runtime: Runtime, module: PlatformModule, order: Order, event: dict[str, Any]) -> None:
    """Send what the SLA event says; raises ``outbound.SendFailed`` for the courier to retry."""
    lang, details = runtime.settings.language, event.get("details") or {}
    hours = {"used": details.get("used_hours", "?"), "limit": details.get("limit_hours", "?")}
    if event["type"] == "order.reminded":
        who = order.assignee
        if who is not None and who.platform == module.PLATFORM and order.status == "open":
            text = say(lang, "sla_reminder", order_id=order.id, alarm_type=order.alarm_type, **hours)
            module.notify(runtime, who.tenant, who.user, text)
        return
    settings = runtime.settings
    target = order_target(order, settings.escalation, settings.duty)  # by type, site and zone, as the duty card
    if target is None:
        return
    at = (order.claimed_at or order.created_at).astimezone(settings.zone).strftime("%m-%d %H:%M")
    name = order.assignee.user if order.assignee else "-"
    card = duty_card(order, settings)
    card = replace(
        card,
        title=say(
            lang, "sla_escalation_title", count=details.get("count", 1), order_id=order.id, alarm_type=order.alarm_type
        ),
        lines=(say(lang, "sla_escalation_line", who=name, at=at, **hours), *card.lines),
        buttons=(),  # the supervisors watch; the assignee moves the order from their own card
    )
    key = runtime.store.key("sla-cards", order.id)
    post_once(
        runtime,
        module,
        order.reporter.tenant,
        target,
        card,
        key=key,
        event_id=event["id"],
        ttl_seconds=POSTED_TTL_SECONDS,
    )
