"""The duty chat and the people an order concerns: the ``duty`` sink of ``bot.adapters.redis.outbox``, and Claim taps.

For each order event, run by a courier outside any turn:

* ``order.created`` / ``order.escalated``: the order's duty card is posted to its ``DUTY_ROUTES``
  target (an escalation posts it again, marked overdue);
* every other event redraws the cards already posted, from the order as it is now;
* then the people concerned hear of it in a direct message: the reporters when someone claims,
  closes or cancels their order; the assignee when someone reports the same problem again.

The cards posted for an order are remembered in Redis (``{p}:duty-cards:<order>``, 30 days) so a
retry after a partial failure never posts one twice. A Claim tap is handled here too: the first
tap wins (``bot.orders.rules.claim``), and the tapper is told in a direct message.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from bot.orders import rules
from bot.orders.duty_card import claim_of, duty_card
from bot.orders.events import DELIVERED, Delivery
from bot.ports import Order, Reporter, ServiceError
from bot.replies import reason_text, say
from handlers.platforms.outbound import SendFailed
from handlers.runner.sla_notices import deliver_sla, is_sla_event

if TYPE_CHECKING:
    from handlers.platforms.base import PlatformModule
    from handlers.platforms.job import Job
    from handlers.runner.runtime import Runtime

log = logging.getLogger(__name__)

CARDS_TTL_SECONDS = 30 * 24 * 3600


class DutySink:
    name = "duty"

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def wants(self, event: dict[str, Any]) -> bool:
        return event["order"]["reporter"]["platform"] in self.runtime.platforms

    def deliver(self, event: dict[str, Any]) -> Delivery:
        runtime = self.runtime
        try:
            order = runtime.services.orders.get(event["order"]["id"])
        except ServiceError as exc:
            return Delivery(ok=False, retry=True, detail=str(exc))
        if order is None:
            return DELIVERED
        module = runtime.platforms[order.reporter.platform]
        problem: SendFailed | None = None
        if is_sla_event(event):  # the resolution SLA's reminder and escalations (handlers/runner/sla_notices.py)
            try:
                deliver_sla(runtime, module, order, event)
            except SendFailed as exc:
                return Delivery(
                    ok=False, retry=exc.attempt.retry, detail=exc.attempt.detail, after=exc.attempt.retry_after
                )
            return DELIVERED
        try:
            if event["type"] in ("order.created", "order.escalated"):
                self._post(module, order, event)
            else:
                self._redraw(module, order)
        except SendFailed as exc:
            if exc.attempt.retry:
                return Delivery(ok=False, retry=True, detail=exc.attempt.detail, after=exc.attempt.retry_after)
            problem = exc  # for good: the people are still told, and the event shows as failed
        self._tell_people(module, order, event)
        return DELIVERED if problem is None else Delivery(ok=False, detail=problem.attempt.detail)

    # -- cards ----------------------------------------------------------------------------------------------
    def _cards_key(self, order_id: str) -> str:
        return self.runtime.store.key("duty-cards", order_id)

    def _post(self, module: PlatformModule, order: Order, event: dict[str, Any]) -> None:
        settings = self.runtime.settings
        site = order.site
        target = settings.duty.target(
            order.reporter.platform,
            order.reporter.tenant,
            order.alarm_type,
            site.id if site else "",
            site.zone if site else "",
        )
        if target is None:
            return
        overdue = int((event.get("details") or {}).get("count") or 0)
        card = duty_card(order, settings, overdue)
        redis, key = self.runtime.store.redis, self._cards_key(order.id)
        for address in target.addresses():
            field = f"{event['id']}/{address}"
            if redis.hexists(key, field):
                continue  # posted by an earlier try of this event
            ref = module.post_card(self.runtime, order.reporter.tenant, address, card)
            ref.update(address=address, overdue=overdue)
            redis.hset(key, field, json.dumps(ref, ensure_ascii=False))
            redis.expire(key, CARDS_TTL_SECONDS)

    def _redraw(self, module: PlatformModule, order: Order) -> None:
        for raw in self.runtime.store.redis.hvals(self._cards_key(order.id)):
            ref = json.loads(raw)
            module.update_card(self.runtime, ref, duty_card(order, self.runtime.settings, ref.get("overdue", 0)))

    # -- people ---------------------------------------------------------------------------------------------
    def _tell_people(self, module: PlatformModule, order: Order, event: dict[str, Any]) -> None:
        lang, kind = self.runtime.settings.language, event["type"]
        actor = _person((event.get("details") or {}).get("by"))
        values = {"order_id": order.id, "alarm_type": order.alarm_type}
        told: list[tuple[Reporter | None, str]] = []
        if kind == "order.claimed" and order.assignee:
            text = say(lang, "tell_reporter_claimed", who=order.assignee.user, **values)
            told = [(r, text) for r in order.reporters]
        elif kind == "order.closed":
            text = say(lang, "tell_reporter_closed", who=actor.user if actor else "-", **values)
            told = [(r, text) for r in order.reporters]
        elif kind == "order.cancelled":
            text = say(
                lang, "tell_reporter_cancelled", reason=reason_text(lang, order.cancel_reason or "") or "-", **values
            )
            told = [(r, text) for r in order.reporters]
        elif kind == "order.duplicate_reported" and order.assignee:
            told = [(order.assignee, say(lang, "tell_assignee_more", who=actor.user if actor else "-", **values))]
        for who, text in told:
            if who is not None and who != actor and who.platform == module.PLATFORM:
                _courtesy(module, self.runtime, who, text)


def claim_tap(runtime: Runtime, module: PlatformModule, job: Job) -> bool:
    """A tap on a duty card's Claim: the first tap wins; the tapper hears the outcome in a direct message.
    False when the job is not a Claim tap."""
    order_id = claim_of(job.action or "")
    if order_id is None or job.kind != "action":
        return False
    by = Reporter(module.PLATFORM, job.tenant, job.user)
    services = runtime.services
    try:
        outcome = rules.claim(services.orders, services.events, order_id, by)
    except ServiceError as exc:
        log.warning("claim of %s failed: %s", order_id, exc)
        _courtesy(module, runtime, by, say(runtime.settings.language, "orders_down"))
        return True
    _courtesy(module, runtime, by, rules.claim_reply(runtime.settings.language, outcome, order_id))
    return True


def _courtesy(module: PlatformModule, runtime: Runtime, who: Reporter, text: str) -> None:
    try:
        module.notify(runtime, who.tenant, who.user, text)
    except Exception as exc:  # a message to a person must never undo what happened to the order
        log.warning("%s: a message to %s failed (%s)", module.PLATFORM, who.user, type(exc).__name__)


def _person(raw: Any) -> Reporter | None:
    if not isinstance(raw, dict):
        return None
    return Reporter(str(raw.get("platform", "")), str(raw.get("tenant", "")), str(raw.get("user", "")))
