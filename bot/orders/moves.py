"""Moving an order through its life (``bot.orders.life``): one call per move, its event, and what the mover hears.

The same call serves a duty card's button, a typed command, the close flow's fix photo, the reporter's answer,
the admin API and the auto-confirm sweep. Permission is the table's (``life.check``), asked by the database
adapter on the order as stored, so a move that lost a race is refused as "not from there", never applied twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.config import Settings
from bot.orders import life
from bot.ports import Order, OrderMoved, OrderNotFound, Reporter, WorkOrders
from bot.replies import say

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    action: str
    order: Order | None  # as it is now (None: unknown)
    problem: str = ""  # "": done; "unknown", "state" (not from its status), "who" (not theirs to move)

    @property
    def done(self) -> bool:
        return not self.problem


def act(
    orders: WorkOrders,
    settings: Settings,
    action: str,
    order_id: str,
    by: Reporter | None,
    *,
    ops: bool = False,
    **params: Any,
) -> Outcome:
    """Take ``action`` on the order for ``by`` (None: the bot; ``ops``: from the admin API or CLI).

    ``params``: ``reason`` (hold, reopen, cancel), ``text`` / ``photo_key`` (a note, a reopen), ``to`` (a
    hand-over), ``photo_key`` / ``resolved`` / ``why`` (resolve, close), ``rating``. Raises ServiceError.
    """
    if action == "hand_over" and params.get("to") == by:
        action = "take_over"  # handing it to oneself is taking it over
    for name in ("reason", "text"):
        if isinstance(params.get(name), str):
            params[name] = params[name].strip()[: life.MAX_TEXT] or None

    params["business_hours"] = settings.business_time  # a hold's end adds the business time it stopped the clock

    def guard(order: Order) -> str:
        return life.check(action, order, life.roles_of(order, by, ops=ops), settings.close_policy)

    try:
        order = orders.move(order_id, action, by, guard, params)
    except OrderNotFound:
        return Outcome(action, None, "unknown")
    except OrderMoved as exc:
        return Outcome(action, exc.order, exc.problem)
    return Outcome(action, order)


def reply(lang: str, outcome: Outcome, order_id: str, settings: Settings) -> str:
    """What the person who moved (or tried to move) the order is told."""
    order = outcome.order
    if order is None:
        return say(lang, "refuse_unknown", order_id=order_id)
    if outcome.problem == "who":
        roles = sorted(life.allowed_roles(outcome.action, settings.close_policy) - {"bot"})
        names = (
            "、".join(say(lang, f"role_{r}") for r in roles)
            if lang == "zh"
            else " or ".join(say(lang, f"role_{r}") for r in roles)
        )
        return say(lang, "refuse_who", order_id=order.id, roles=names)
    if outcome.problem:
        status, act_name = say(lang, f"life_{order.life}"), say(lang, f"act_{outcome.action}")
        return say(lang, "refuse_state", order_id=order.id, status=status, action=act_name)
    if outcome.action == "hold":
        return say(lang, "did_hold", order_id=order.id, reason=hold_reason_text(lang, order.hold_reason))
    if outcome.action == "hand_over":
        return say(lang, "did_hand_over", order_id=order.id, who=order.assignee.user if order.assignee else "-")
    if outcome.action == "resolve":
        return say(lang, "resolved_wait", order_id=order.id, hours=f"{settings.auto_confirm_hours:g}")
    return say(lang, f"did_{outcome.action}", order_id=order.id)


def hold_reason_text(lang: str, reason: str | None) -> str:
    """A stored hold reason as people read it: "parts" and "access" in their words, other text as typed."""
    if reason in life.HOLD_REASONS:
        return say(lang, f"hold_{reason}")
    return reason or say(lang, "hold_other")


def hold_reason(words: str) -> str:
    """What a person typed after ``挂起 WO-…`` as the stored reason: "parts", "access", or their words."""
    folded = words.strip().lower()
    if not folded:
        return "other"
    if any(w in folded for w in ("配件", "零件", "备件", "材料", "part")):
        return "parts"
    if any(w in folded for w in ("进不去", "无法进入", "没钥匙", "门禁", "access", "locked", "key")):
        return "access"
    return words.strip()


def auto_confirm(
    orders: WorkOrders,
    settings: Settings,
    now: datetime,
    on_confirm: Callable[[Order], None] | None = None,
) -> int:
    """Close every order resolved ``AUTO_CONFIRM_HOURS`` ago that its reporter did not answer (auto_confirmed).
    Each is one conditional move, so two processes sweeping at once close it once. Returns how many."""
    cutoff = now - timedelta(hours=settings.auto_confirm_hours)
    closed = 0
    for order in orders.resolved_before(cutoff):
        outcome = act(orders, settings, "auto_confirm", order.id, None)
        if outcome.done and outcome.order is not None:
            closed += 1
            if on_confirm is not None:
                on_confirm(outcome.order)
    return closed
