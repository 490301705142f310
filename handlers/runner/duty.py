"""The duty chat and the people an order concerns: the ``duty`` sink of ``bot.adapters.redis.outbox``, and Claim taps.

For each order event, run by a courier outside any turn:

* ``order.created`` / ``order.escalated``: the order's duty card is posted to its ``DUTY_ROUTES``
  target (an escalation posts it again, marked overdue);
* every other event redraws the cards already posted, from the order as it is now;
* then the people concerned hear of it in a direct message: the reporters when someone claims,
  closes or cancels their order; the assignee when someone reports the same problem again.

The cards posted for an order are remembered in Redis (``{p}:duty-cards:<order>``, 30 days) so a
retry after a partial failure never posts one twice. A card's taps are handled here too: the first Claim
wins (``bot.orders.rules.claim``); Start, Hold, Resume and Unclaim are moves of ``bot.orders.moves`` (only
those the table lets the tapper make); Done and Hand over tell the assignee what to send or type. The tapper
is told the outcome, or why not, in a direct message.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from bot.orders import life, moves, rules
from bot.orders.duty_card import duty_card, duty_tap_of
from bot.orders.duty_routes import order_target
from bot.orders.events import DELIVERED, Delivery
from bot.ports import Order, Reporter, ServiceError
from bot.replies import reason_text, say
from handlers.platforms.outbound import SendFailed
from handlers.runner.card_posts import post_once
from handlers.runner.duty_notes import remember_thread
from handlers.runner.sla_notices import deliver_sla, is_sla_event

if TYPE_CHECKING:
    from bot.config import Settings
    from handlers.platforms.base import PlatformModule
    from handlers.platforms.job import Job
    from handlers.runner.runtime import Runtime

log = logging.getLogger(__name__)

CARDS_TTL_SECONDS = 30 * 24 * 3600
Told = tuple[Reporter | None, str]  # who hears of an event, and what


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
        runtime, settings = self.runtime, self.runtime.settings
        target = order_target(order, settings.duty)
        if target is None:
            return
        overdue = int((event.get("details") or {}).get("count") or 0)

        def remember(address: str, ref: dict[str, Any]) -> None:
            remember_thread(runtime, module.PLATFORM, address, {**ref, "order_id": order.id}, CARDS_TTL_SECONDS)

        card, key = duty_card(order, settings, overdue), self._cards_key(order.id)
        post_once(
            runtime,
            module,
            order.reporter.tenant,
            target,
            card,
            key=key,
            event_id=event["id"],
            ttl_seconds=CARDS_TTL_SECONDS,
            mark={"overdue": overdue},
            then=remember,
        )

    def _redraw(self, module: PlatformModule, order: Order) -> None:
        for raw in self.runtime.store.redis.hvals(self._cards_key(order.id)):
            ref = json.loads(raw)
            module.update_card(self.runtime, ref, duty_card(order, self.runtime.settings, ref.get("overdue", 0)))

    # -- people ---------------------------------------------------------------------------------------------
    def _tell_people(self, module: PlatformModule, order: Order, event: dict[str, Any]) -> None:
        lang, kind = self.runtime.settings.language, event["type"]
        actor = _person((event.get("details") or {}).get("by"))
        values = {"order_id": order.id, "alarm_type": order.alarm_type}
        told: list[Told] = []
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
        else:
            told = _life_news(self.runtime.settings, order, event, actor)
        for who, text in told:
            if who is not None and who != actor and who.platform == module.PLATFORM:
                _courtesy(module, self.runtime, who, text)


def _life_news(settings: Settings, order: Order, event: dict[str, Any], actor: Reporter | None) -> list[Told]:
    """Who hears of a move of the order's life, and what: the reporter of every change (the first reporter alone
    is asked "is it fixed?"), the assignee of a reopen, a note or a hand-over to them. Notes are the team's:
    the reporter does not hear of them (docs/orders.md)."""
    lang, kind = settings.language, event["type"]
    details = event.get("details") or {}
    short = order.id[-5:]
    who = order.assignee.user if order.assignee else "-"
    values = {"order_id": order.id, "alarm_type": order.alarm_type, "who": who, "short": short}
    to_reporters = {
        "order.started": "tell_started",
        "order.resumed": "tell_resumed",
        "order.handed_over": "tell_handed_over",
        "order.unclaimed": "tell_unclaimed",
    }
    if kind in to_reporters:
        told: list[Told] = [(r, say(lang, to_reporters[kind], **values)) for r in order.reporters]
        if kind == "order.handed_over" and order.assignee is not None:
            by = actor.user if actor else "-"
            told.append((order.assignee, say(lang, "tell_assignee_handed", **{**values, "who": by})))
        return told
    if kind == "order.on_hold":
        reason = moves.hold_reason_text(lang, order.hold_reason)
        return [(r, say(lang, "tell_on_hold", reason=reason, **values)) for r in order.reporters]
    if kind == "order.resolved":
        hours = f"{settings.auto_confirm_hours:g}"
        return [(order.reporter, say(lang, "tell_resolved", hours=hours, **values))]
    if kind == "order.reopened" and order.assignee is not None:
        reason = str(details.get("reason") or details.get("text") or "-")
        return [(order.assignee, say(lang, "tell_assignee_reopened", reason=reason, **values))]
    if kind == "order.note_added" and order.assignee is not None:
        text = str(details.get("text") or "📷")
        if details.get("voice_key"):  # a voice note: its words (the recording is on the admin page)
            text = f"🎤 {text}"
        by = actor.user if actor else "-"
        return [(order.assignee, say(lang, "tell_assignee_note", text=text, **{**values, "who": by}))]
    if kind == "order.confirmed" and details.get("action") == "confirm":
        return [(order.reporter, say(lang, "tell_confirmed_rate", **values))]
    return []


# what a duty card's button does: a move (with its params), or a word to the assignee of what to send or type
_TAP_MOVES: dict[str, tuple[str, dict[str, Any]]] = {
    "start": ("start", {}),
    "hold_parts": ("hold", {"reason": "parts"}),
    "hold_access": ("hold", {"reason": "access"}),
    "resume": ("resume", {}),
    "unclaim": ("unclaim", {}),
}
_TAP_HINTS = {"done": ("resolve", "done_send_photo"), "hand_over": ("hand_over", "hand_over_how")}


def claim_tap(runtime: Runtime, module: PlatformModule, job: Job) -> bool:
    """A tap on a duty card's button: Claim (the first tap wins), a move of the order's life, or Done / Hand
    over (the assignee is told what to send or type); the tapper hears the outcome, or why not, in a direct
    message. False when the job is not a duty card's tap."""
    tapped = duty_tap_of(job.action or "")
    if tapped is None or job.kind != "action":
        return False
    button, order_id = tapped
    by = Reporter(module.PLATFORM, job.tenant, job.user)
    services, settings = runtime.services, runtime.settings
    lang = settings.language
    try:
        if button == "claim":
            text = rules.claim_reply(lang, rules.claim(services.orders, services.events, order_id, by), order_id)
        elif button in _TAP_HINTS:
            text = _hint(runtime, by, order_id, *_TAP_HINTS[button])
        else:
            action, params = _TAP_MOVES[button]
            outcome = moves.act(services.orders, settings, action, order_id, by, **params)
            text = moves.reply(lang, outcome, order_id, settings)
    except ServiceError as exc:
        log.warning("%s of %s failed: %s", button, order_id, exc)
        text = say(lang, "orders_down")
    _courtesy(module, runtime, by, text)
    return True


def _hint(runtime: Runtime, by: Reporter, order_id: str, action: str, sentence: str) -> str:
    """What to send or type for Done / Hand over, if the tapper may do it; else why not."""
    settings = runtime.settings
    order = runtime.services.orders.get(order_id, by.home)
    if order is None:
        return say(settings.language, "refuse_unknown", order_id=order_id)
    problem = life.check(action, order, life.roles_of(order, by), settings.close_policy)
    if problem:
        return moves.reply(settings.language, moves.Outcome(action, order, problem), order_id, settings)
    return say(settings.language, sentence, order_id=order.id, short=order.id[-5:])


def _courtesy(module: PlatformModule, runtime: Runtime, who: Reporter, text: str) -> None:
    try:
        module.notify(runtime, who.tenant, who.user, text)
    except Exception as exc:  # a message to a person must never undo what happened to the order
        log.warning("%s: a message to %s failed (%s)", module.PLATFORM, who.user, type(exc).__name__)


def _person(raw: Any) -> Reporter | None:
    if not isinstance(raw, dict):
        return None
    return Reporter(str(raw.get("platform", "")), str(raw.get("tenant", "")), str(raw.get("user", "")))
