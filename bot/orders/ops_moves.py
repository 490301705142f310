"""Ops moving an order through its life from the admin API (``POST /admin/api/orders/{id}/move``): any move the
table allows from the order's status (``bot.orders.life``, role ``ops``), checked and audited like a cancel."""

from __future__ import annotations

import re
from typing import Any

from bot.messages import is_storable
from bot.ops import OPS_PLATFORM, Conflict, Invalid, NotFound, Ops
from bot.orders import life, moves
from bot.ports import Order, Reporter

# the moves ops may ask for (confirming and reopening are the reporter's words, but ops may stand in); those
# below need nothing but an optional reason, a hand-over needs ``to``, a note its ``text``, a cancel its ``reason``
PLAIN_ACTIONS = ("claim", "start", "hold", "resume", "resolve", "unclaim", "confirm", "reopen")
OPS_ACTIONS = (*PLAIN_ACTIONS, "hand_over", "note", "cancel")


_VISIBLE = re.compile(r"[^\x00-\x20\x7f]")  # the OpenAPI document's pattern


def _text(data: dict[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not _VISIBLE.search(value) or len(value) > life.MAX_TEXT or not is_storable(value):
        raise Invalid(f"{name} must be a string of 1 to {life.MAX_TEXT} characters with something visible in it")
    return value.strip() or value


def _person(raw: Any) -> Reporter:
    if not isinstance(raw, dict) or not isinstance(raw.get("tenant", ""), str):
        raise Invalid("to must be {platform, tenant, user}: the person the order is handed to")
    platform, user = _text(raw, "platform"), _text(raw, "user")
    if platform is None or user is None:
        raise Invalid("to must be {platform, tenant, user}: the person the order is handed to")
    return Reporter(platform, raw.get("tenant") or "", user)


def _of_order(to: Reporter, order: Order) -> Reporter:
    """The hand-over's ``to`` in the order's tenant (no tenant given: the order's). Only a person of the order's
    own platform and tenant is its assignee (``bot.orders.life.roles_of``): one from elsewhere could never start,
    resolve or hand it on, and the order would be stuck with them, so that is a 400."""
    home = order.reporter.home
    if not to.tenant:
        to = Reporter(to.platform, home.tenant, to.user)
    if to.home != home:
        raise Invalid(
            f"to must be a person of the order's own platform and tenant ({home.platform!r}, {home.tenant!r})"
        )
    return to


def ops_move(ops: Ops, order_id: str, data: dict[str, Any], *, who: str) -> Order:
    """Raises Invalid (400) for a bad body or a hand-over to someone outside the order's platform and tenant,
    NotFound (404), Conflict (409) when the order is not where the move starts from."""
    action = data.get("action")
    if action not in OPS_ACTIONS:
        raise Invalid(f"action must be one of {', '.join(OPS_ACTIONS)}")
    params: dict[str, Any] = {}  # only the fields the action takes are read (the document names them per action)
    if action == "hand_over":
        params["to"] = _person(data.get("to"))
    elif action == "note":
        params["text"] = _text(data, "text")
    else:
        params["reason"] = _text(data, "reason")
    if action == "hold":
        params["reason"] = moves.hold_reason(params["reason"] or "")
    if action in ("cancel", "note") and not (params.get("reason") or params.get("text")):
        raise Invalid(f"{action} needs a {'reason' if action == 'cancel' else 'text'}")
    before = ops.order(order_id)
    if action == "hand_over":
        params["to"] = _of_order(params["to"], before)
    by = Reporter(OPS_PLATFORM, "", who)
    outcome = moves.act(ops.orders, ops.settings, action, before.id, by, ops=True, **params)
    if outcome.order is None:
        raise NotFound(f"no order {order_id!r}")
    if not outcome.done:
        raise Conflict(f"order {before.id} is {outcome.order.life}: it cannot be {action} now")
    after = outcome.order
    ops.audit(who, "order.move", after.id, before={"life": before.life}, after={"life": after.life, "action": action})
    return after
