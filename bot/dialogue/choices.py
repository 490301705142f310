"""Buttons as the domain sees them: what each choice means, and the offer a session holds open.

A turn that asks a question offers choices (``TurnContext.offer``). At the end of the turn they
become the session's *offer*: a random token, the question's text and the choices. Every
``Choice.id`` sent out is ``"<token>.<what>"``; a tap comes back with that id, and it is taken
only while the session still holds that very offer. A double tap, a tap on an old card, or a tap
by someone the card was not for finds another token (or none) and changes nothing.

``what`` is the choice's meaning, the same as a typed message: ``confirm``, ``cancel``, ``retry``,
``new`` (a new report from the photo held in idle), ``place_yes`` / ``place_no`` (the answer to "is «…» the
place?"), ``change_place`` / ``change_type`` (what "不对" at the summary wants changed), ``type=3`` (the third
alarm type), ``close=WO-…``, ``order=WO-…``, ``withdraw=WO-…``, ``start=WO-…`` and each move of the order's life
(that command on that order), and ``site=B3-E`` (that registry site, among close ones). ``intent_of`` turns it into
the intent the typed words give.
"""

from __future__ import annotations

import secrets
from typing import Any, Literal

from bot.dialogue.intents import LIFE_INTENTS, Intent
from bot.messages import Choice

# what → the intent a typed message would give; "type=" and "close=" carry an argument
_PLAIN = {
    "confirm": "confirm",
    "cancel": "cancel",
    "retry": "retry",
    "new": "new_report",
    "same": "same_problem",
    "place_yes": "accept_place",
    "place_no": "reject_place",
    "change_place": "change_place",
    "change_type": "change_type",
}
_WITH_ARG = {
    "type": "choose_type",
    "close": "close",
    "order": "order_query",
    "withdraw": "withdraw",
    "site": "pick_site",
    **{name: name for name, _ in LIFE_INTENTS},  # "start=WO-…": that move on that order ("which order?" of "开始")
}

_ORDER_COMMANDS = frozenset(_WITH_ARG) - {"type", "site"}


def intent_of(what: str) -> Intent | None:
    """The intent a choice stands for, or None for a ``what`` this version does not know."""
    if what in _PLAIN:
        return Intent(_PLAIN[what])
    name, sep, arg = what.partition("=")
    if sep and name in _WITH_ARG and arg:
        return Intent(_WITH_ARG[name], arg)
    return None


def type_choice(number: int) -> str:
    return f"type={number}"


def order_choice(command: str, order_id: str) -> str:
    """A button doing ``command`` (close, order, withdraw) on one order."""
    return f"{command}={order_id}"


Style = Literal["", "primary", "danger"]
Offered = tuple[str, str, Style]  # (what, label, style) as a turn collects them


def settle_offer(current: dict[str, Any] | None, text: str, offered: list[Offered]) -> dict[str, Any]:
    """The offer a turn leaves open. ``current`` is the offer still open (None when the turn changed the
    session): when the same choices are offered again, its token is kept, so its card still works."""
    choices = [list(item) for item in offered]
    if current and current.get("choices") == choices:
        return current  # its text stays the question as first asked (a repeat would nest in it)
    return {"token": secrets.token_hex(4), "text": text, "choices": choices}


def choices_of(offer: dict[str, Any]) -> tuple[Choice, ...]:
    """The offer as the buttons a reply carries."""
    token = offer["token"]
    return tuple(Choice(f"{token}.{what}", label, style) for what, label, style in offer["choices"])


def taken(offer: dict[str, Any] | None, action: str) -> tuple[str, str] | None:
    """(what, label) when ``action`` is a choice of the open ``offer``; None when it is not (stale)."""
    if not offer:
        return None
    token, _, what = action.partition(".")
    if token != offer.get("token"):
        return None
    for item_what, label, _style in offer.get("choices") or []:
        if item_what == what:
            return what, label
    return None


def lists_orders(offer: dict[str, Any] | None) -> bool:
    """Is the open question a list of orders ("which order?", "new report or the fix of …?")? There a typed "2"
    is the second order in any state, never the second alarm type."""
    listed = [what for what, _label, _style in (offer or {}).get("choices") or [] if what != "cancel"]
    return bool(listed) and all(what.partition("=")[0] in _ORDER_COMMANDS for what in listed)


def numbered(offer: dict[str, Any] | None, number: int) -> tuple[str, str] | None:
    """The ``number``-th choice of the offer (counting from 1, "cancel" not counted): a typed "2"."""
    if not offer:
        return None
    listed = [(what, label) for what, label, _style in offer.get("choices") or [] if what != "cancel"]
    return listed[number - 1] if 1 <= number <= len(listed) else None
