"""The order's life after the claim, declared once: its statuses, and who may move it from which to which.

``status`` (open, closed, cancelled) stays the coarse column; ``Order.life`` reads the fine one:

    open ─claim→ claimed ─start→ in_progress ⇄ on_hold (hold / resume) ─resolve→ resolved ─confirm→ closed
                    ▲                                                              │
                    └──────────────────────────── reopen ─────────────────────────┘

Each row of ``RULES`` says, for one action: the statuses it starts from, the one it goes to, who may take it,
the timeline ``kind`` it writes and the event it emits. ``check`` is the table's only reader for permission;
``columns`` is what a move writes. The SQL adapter runs both inside one conditional update (``WorkOrders.move``).

Roles: ``assignee`` (the person the order is claimed by), ``reporter`` (who reported it first), ``duty``
(anyone of the order's tenant: the duty chat's people, by a card or typed), ``ops`` (the admin API, page and
CLI), ``bot`` (the auto-confirm sweep). Nobody else may move an order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.orders.business_time import BusinessHours
from bot.orders.events import EventType, person
from bot.orders.sla import NEW_CLOCK
from bot.ports import Order, Reporter

LIFE_STATUSES = ("open", "claimed", "in_progress", "on_hold", "resolved", "closed", "cancelled")
WORKING = ("claimed", "in_progress", "on_hold")  # claimed by someone, not yet resolved
OPEN = ("open", *WORKING, "resolved")
HOLD_REASONS = ("parts", "access", "other")  # waiting for parts, no access, other (+ the person's words)
MAX_TEXT = 500  # a reason or a note is cut to this many characters


@dataclass(frozen=True)
class Rule:
    action: str
    sources: tuple[str, ...]
    dest: str | None  # None: the status does not move (a note, a rating)
    roles: frozenset[str]
    kind: str  # the timeline row's kind
    event: EventType | None


def _rule(
    action: str, sources: tuple[str, ...], dest: str | None, roles: str, kind: str, event: EventType | None
) -> Rule:
    return Rule(action, sources, dest, frozenset(roles.split()), kind, event)


# fmt: off
RULES: tuple[Rule, ...] = (
    _rule("claim",        ("open",),               "claimed",     "duty ops",                  "claimed",        "order.claimed"),     # noqa: E501
    _rule("start",        ("claimed",),            "in_progress", "assignee ops",              "started",        "order.started"),     # noqa: E501
    _rule("hold",         ("claimed", "in_progress"), "on_hold",  "assignee ops",              "on_hold",        "order.on_hold"),     # noqa: E501
    _rule("resume",       ("on_hold",),            "in_progress", "assignee ops",              "resumed",        "order.resumed"),     # noqa: E501
    _rule("resolve",      ("open", *WORKING),                "resolved",    "assignee ops",              "resolved",       "order.resolved"),    # noqa: E501
    _rule("hand_over",    WORKING,                 "claimed",     "assignee ops",              "handed_over",    "order.handed_over"), # noqa: E501
    _rule("take_over",    WORKING,                 "claimed",     "duty ops",                  "handed_over",    "order.handed_over"), # noqa: E501
    _rule("unclaim",      WORKING,                 "open",        "assignee duty ops",         "unclaimed",      "order.unclaimed"),   # noqa: E501
    _rule("confirm",      ("resolved",),           "closed",      "reporter ops",              "confirmed",      "order.confirmed"),   # noqa: E501
    _rule("reopen",       ("resolved",),           "claimed",     "reporter ops",              "reopened",       "order.reopened"),    # noqa: E501
    _rule("auto_confirm", ("resolved",),           "closed",      "bot",                       "auto_confirmed", "order.confirmed"),   # noqa: E501
    _rule("close",        ("open", *WORKING),      "closed",      "reporter ops",              "closed",         "order.closed"),      # noqa: E501
    _rule("withdraw",     ("open", *WORKING),      "cancelled",   "reporter",                  "cancelled",      "order.cancelled"),   # noqa: E501
    _rule("cancel",       OPEN,                    "cancelled",   "ops",                       "cancelled",      "order.cancelled"),   # noqa: E501
    _rule("note",         LIFE_STATUSES,           None,          "assignee reporter duty ops", "note_added",    "order.note_added"),  # noqa: E501
    _rule("rate",         ("closed",),             None,          "reporter",                  "rated",          None),
)
# fmt: on
TABLE: dict[str, Rule] = {rule.action: rule for rule in RULES}


def roles_of(order: Order, who: Reporter | None, *, ops: bool = False) -> frozenset[str]:
    """What ``who`` is to ``order`` (None: the bot itself)."""
    if who is None:
        return frozenset({"bot"})
    roles = {"ops"} if ops else set()
    if who.home == order.reporter.home:
        roles.add("duty")
        if who == order.reporter:
            roles.add("reporter")
        if who == order.assignee:
            roles.add("assignee")
    return frozenset(roles)


def allowed_roles(action: str, close_policy: str = "assignee") -> frozenset[str]:
    """The rule's roles; ``CLOSE_POLICY=anyone`` lets anyone of the tenant resolve a claimed order."""
    roles = TABLE[action].roles
    return roles | {"duty"} if action == "resolve" and close_policy == "anyone" else roles


def check(action: str, order: Order, roles: frozenset[str], close_policy: str = "assignee") -> str:
    """ "" when ``roles`` may take ``action`` on ``order`` as it is; "state" (not from its status) or "who"."""
    rule = TABLE[action]
    if order.life not in rule.sources:
        return "state"
    return "" if roles & allowed_roles(action, close_policy) else "who"


def _person(prefix: str, who: Reporter | None) -> dict[str, Any]:
    if who is None:
        return {f"{prefix}_platform": None, f"{prefix}_tenant": None, f"{prefix}_user": None}
    return {f"{prefix}_platform": who.platform, f"{prefix}_tenant": who.tenant, f"{prefix}_user": who.user}


def held_until(order: Order, now: datetime, hours: BusinessHours | None = None) -> float:
    """Seconds on hold so far, counting the hold that is running: business seconds with ``hours`` (what the
    resolution SLA's clock and the reports take out), else wall-clock ones."""
    if order.on_hold_since is None:
        return order.held_seconds
    running = (hours or BusinessHours()).seconds_between(order.on_hold_since, now)
    return order.held_seconds + running


def columns(action: str, order: Order, by: Reporter | None, now: datetime, params: Mapping[str, Any]) -> dict[str, Any]:
    """The order's columns ``action`` writes (``params``: reason, to, photo_key, resolved, why, rating, and
    ``business_hours``, the clock a hold's end counts in)."""
    held = held_until(order, now, params.get("business_hours"))
    leave_hold = {"on_hold_since": None, "held_seconds": held} if order.life == "on_hold" else {}
    if action == "claim":
        return {"stage": "claimed", "claimed_at": now, **NEW_CLOCK, **_person("assignee", by)}
    if action == "start":
        return {"stage": "in_progress", "started_at": order.started_at or now}
    if action == "hold":
        return {"stage": "on_hold", "hold_reason": params.get("reason") or "other", "on_hold_since": now}
    if action == "resume":
        return {"stage": "in_progress", "hold_reason": None, **leave_hold}
    if action == "resolve":
        return {
            "stage": "resolved",
            "resolved_at": now,
            "close_photo_key": params.get("photo_key"),
            "vlm_resolved": params.get("resolved"),
            "vlm_reason": params.get("why"),
            **leave_hold,
        }
    if action in ("hand_over", "take_over"):
        to = params["to"] if action == "hand_over" else by
        new = {"stage": "claimed", "claimed_at": now, **NEW_CLOCK, "hold_reason": None}
        return {**new, **leave_hold, **_person("assignee", to)}
    if action == "unclaim":
        gone = {"stage": None, "claimed_at": None, **NEW_CLOCK, "hold_reason": None}
        return {**gone, **leave_hold, **_person("assignee", None)}
    if action in ("confirm", "auto_confirm", "close"):
        done = {"status": "closed", "closed_at": now, "auto_confirmed": action == "auto_confirm"}
        if action == "close":
            photo = {"close_photo_key": params.get("photo_key"), "vlm_resolved": params.get("resolved")}
            done |= {**photo, "vlm_reason": params.get("why"), **leave_hold}
        if params.get("rating"):
            done["rating"] = params["rating"]
        return {**done, **(_person("closed_by", by) if by else {})}
    if action == "reopen":
        return {"stage": "claimed", "resolved_at": None, "reopen_count": order.reopen_count + 1}
    if action in ("withdraw", "cancel"):
        reason = params.get("reason") or ("withdrawn_by_reporter" if action == "withdraw" else "")
        return {"status": "cancelled", "closed_at": now, "cancel_reason": reason, **_person("cancelled_by", by)}
    if action == "rate":
        return {"rating": params["rating"]}
    return {}  # a note moves nothing


def timeline_row(action: str, order: Order, by: Reporter | None, params: Mapping[str, Any]) -> dict[str, Any]:
    """The timeline row of ``action`` (without ``order_id`` and ``at``, which the adapter adds)."""
    rule = TABLE[action]
    detail: dict[str, Any] = {}
    if action in ("hand_over", "take_over"):
        to = params["to"] if action == "hand_over" else by
        detail = {"from": person(order.assignee), "to": person(to)}
    for name in ("text", "photo_key", "rating", "voice_key"):
        if params.get(name):
            detail[name] = params[name]
    if action == "resolve" or action == "close":
        detail["resolved"] = params.get("resolved")
    return {
        "kind": rule.kind,
        "from_status": order.life,
        "to_status": rule.dest or order.life,
        **{k.replace("assignee", "actor"): v for k, v in _person("assignee", by).items()},
        "reason": (params.get("reason") or params.get("why") or None) and str(params.get("reason") or params["why"]),
        "detail": detail or None,
    }


def event_details(action: str, by: Reporter | None, params: Mapping[str, Any]) -> dict[str, Any]:
    """The ``details`` of the event a move sends: who, which action, and the reason, text, photo, rating, voice
    note or new assignee where they apply."""
    details: dict[str, Any] = {"by": person(by), "action": action}
    for name in ("reason", "text", "photo_key", "rating", "voice_key"):
        if params.get(name):
            details[name] = params[name]
    if params.get("to") is not None:
        details["to"] = person(params["to"])
    return details
