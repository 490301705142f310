"""The order's life, typed: ``开始 WO-…``, ``挂起 WO-… 等配件``, ``恢复 …``, ``转交 … @someone``, ``接手 …``,
``退回 …``, ``备注 … text``, and the reporter's answer at resolved: ``已修好 …`` / ``没修好 … what is wrong``
(or a photo), ``评分 … 4``.

Each is one move of ``bot.orders.moves`` (``完成 …``, the assignee's fix photo, is the close flow's). The order is
named as everywhere (``bot.dialogue.order_refs``). The reporter's "not fixed" without words asks for a sentence or
a photo; the next text or photo reopens the order (``pending["reopen_id"]``).

Typed without the order ("开始", "备注 等配件", "评分 5"), the bot asks which, with the orders that person may make
that move on as buttons (one order: one button, a one-tap confirm; none: how to name one). No order is ever moved
without being named or tapped. The words after the command wait in ``pending["move_words"]`` for the tap.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from bot.dialogue.context import TurnContext
from bot.dialogue.machine import REPORTING
from bot.dialogue.order_refs import find_order
from bot.dialogue.photos import TurnPhotos
from bot.dialogue.voice import keep_audio
from bot.orders import life, moves
from bot.ports import Order, Reporter, ServiceError

# the typed intent → the move it makes
_ACTIONS = {
    "start": "start",
    "hold": "hold",
    "resume": "resume",
    "hand_over": "hand_over",
    "take_over": "take_over",
    "unclaim": "unclaim",
    "add_order_note": "note",
    "confirm_fixed": "confirm",
    "reopen": "reopen",
    "rate": "rate",
}
# Moves of the person who holds the order: offered only on the orders they hold (a duty colleague may unclaim any).
_HOLDER_MOVES = frozenset({"start", "hold", "resume", "hand_over", "unclaim"})
MAX_LISTED = 10  # orders listed for "which one?" (the first ``MAX_ORDER_BUTTONS`` are buttons)
# What parts a command or its order from the words after it, as typed (not folded: "，" and "：" too).
_PARTING = " \t,，;；:：、"
_SEPARATOR = re.compile(f"[{re.escape(_PARTING)}]+")
_MENTION = re.compile(r"^<@([A-Z0-9]+)(?:\|[^>]*)?>$|^@?([\w.\-]+)$")  # Slack's <@U…>, or @user / a user id
_RATING = re.compile(r"^([1-5])(?:\s*(?:分|星|stars?|/\s*5))?$", re.I)


def mentioned(words: str) -> str | None:
    """The user id a hand-over names: Slack's ``<@U…>``, or a WeCom / Feishu user id with or without ``@``."""
    match = _MENTION.match(words.strip())
    return (match.group(1) or match.group(2)) if match else None


def _as_typed(text: str, ref: str, folded: str) -> str:
    """A note's or a reason's words as the person typed or said them (the command's arg is folded: "，" became
    ","), without the comma or colon that may part them from the order ("备注 7KQ2M，阀门已关")."""
    at = text.upper().find(ref.upper())
    typed = text[at + len(ref) :].lstrip(_PARTING).strip() if at >= 0 else ""
    return typed or folded


class LifeCommands:
    def __init__(self, ctx: TurnContext, photos: TurnPhotos, ask_again: Callable[[], None]) -> None:
        self.ctx = ctx
        self.photos = photos
        self.ask_again = ask_again  # the open question again (``Lookups.ask_again``)

    def move_order(self) -> None:
        """One typed move of the order's life; the mover is told what came of it, or why not."""
        ctx = self.ctx
        name = ctx.intent.name
        ref, _, rest = ctx.intent.arg.partition(" ")
        action, rest = _ACTIONS[name], rest.strip()
        waiting = ctx.pending.pop("move_words", None)  # the words of "which order?", for its answer only
        if action == "reopen":
            ctx.pending.pop("reopen_id", None)  # "what is still wrong?" is answered by this move
        try:
            found = find_order(ctx, ref) if ref else None
        except ServiceError:
            ctx.fail("orders", "orders_down")
            return
        if not ref or (found is None and ref.isalpha() and not ctx.from_offer):
            # No order named, or a word read as one ("note check the valve", "hold parts"): all of it is the words
            self._ask_which(name, action, f"{ref.lower()} {rest}".strip())
            return
        if not rest and ctx.from_offer and isinstance(waiting, dict) and waiting.get("move") == name:
            rest = str(waiting.get("words") or "")
        params: dict[str, Any] = {}
        if action == "hold":
            params["reason"] = moves.hold_reason(rest)
        elif action == "hand_over":
            user = mentioned(rest)
            if not user:
                ctx.say("hand_over_whom", order_id=ref)
                return
            me = ctx.reporter()
            params["to"] = Reporter(me.platform, me.tenant, user)
        elif action == "note":
            rest = _as_typed(ctx.words, ref, rest)
            if not rest:
                ctx.say("life_which", example=ctx.t(f"example_{name}", short=ref))
                return
            params["text"] = rest
            if ctx.incoming.kind == "voice":  # a spoken note keeps its recording, on the timeline and the event
                params["voice_key"] = keep_audio(ctx.incoming.voice, ctx.services, ctx.session.key)
        elif action == "reopen":
            if not rest:
                self._ask_reopen(found, ref)
                return
            params["reason"] = _as_typed(ctx.words, ref, rest)
        elif action == "rate":
            rating = _RATING.match(rest)
            if not rating:
                ctx.say("rating_bad")
                return
            params["rating"] = int(rating.group(1))
        self._move(action, found.id if found else ref, **params)

    def _ask_which(self, name: str, action: str, rest: str) -> None:
        """A move typed without its order: "which one?" with the orders this person may make it on, as buttons;
        none, how to name one, and the open question again."""
        ctx, me = self.ctx, self.ctx.reporter()
        try:
            found = [order for order in ctx.services.orders.movable_by(me) if self._may(action, order, me)]
        except ServiceError:
            ctx.fail("orders", "orders_down")
            return
        verb = ctx.t(f"verb_{name}")
        if not found:
            ctx.say("life_none", verb=verb, example=ctx.t(f"example_{name}", short="7KQ2M"))
            self.ask_again()
            return
        shown = found[:MAX_LISTED]
        ctx.say("life_which_order", verb=verb, orders=ctx.order_lines(shown, numbered=True))
        ctx.offer_orders(shown, name)
        if rest:
            ctx.pending["move_words"] = {"move": name, "words": self._typed_rest(rest)}

    def _may(self, action: str, order: Order, me: Reporter) -> bool:
        """May ``me`` make ``action`` on ``order`` now, and is it one they would mean?"""
        if life.check(action, order, life.roles_of(order, me), self.ctx.settings.close_policy):
            return False
        if action in _HOLDER_MOVES:
            return order.assignee == me
        if action == "take_over":
            return order.assignee != me
        if action == "note":
            return me == order.assignee or me in order.reporters
        return action != "rate" or order.rating is None

    def _typed_rest(self, folded: str) -> str:
        """The words after a command without its order as typed ("备注 等配件，明天到": the "，" kept)."""
        parts = _SEPARATOR.split(self.ctx.words.strip(), maxsplit=1)
        return parts[1].strip() if len(parts) == 2 and parts[1].strip() else folded

    def _move(self, action: str, order_id: str, **params: Any) -> None:
        """Make the move on ``order_id`` (an order found, or the reference as typed: then it is refused as unknown)."""
        ctx = self.ctx
        try:
            outcome = moves.act(ctx.services.orders, ctx.settings, action, order_id, ctx.reporter(), **params)
        except ServiceError:
            ctx.fail("orders", "orders_down")
            outcome = None
        kept = [params[name] for name in ("voice_key", "photo_key") if params.get(name)]
        if outcome is None or not outcome.done:  # no order holds the recording or the photo
            ctx.discarded.extend(kept)
        elif params.get("voice_key"):
            ctx.user_entry["voice_key"] = params["voice_key"]
        if outcome is None:
            return
        ctx.replies.append(moves.reply(ctx.lang, outcome, order_id, ctx.settings))
        if outcome.done and action == "confirm" and outcome.order is not None:
            ctx.say("tell_confirmed_rate", short=outcome.order.id[-5:])
        if ctx.session.state in REPORTING:  # a move made mid-report: the report's question again, so it goes on
            self.ask_again()

    def _ask_reopen(self, found: Order | None, ref: str) -> None:
        """ "Not fixed" without words: asked what is still wrong; the next text or photo reopens it."""
        ctx = self.ctx
        if found is None:
            ctx.say("refuse_unknown", order_id=ref)
            return
        ctx.pending["reopen_id"] = found.id
        ctx.say("reopen_ask", short=found.id[-5:])

    # -- "not fixed" answered with a photo ------------------------------------------------------------------
    def reopening(self) -> bool:
        return bool(self.ctx.pending.get("reopen_id"))

    def take_reopen_photo(self) -> None:
        ctx = self.ctx
        order_id = str(ctx.pending.pop("reopen_id"))
        data, content_type = self.photos.first_accepted()
        key = self.photos.store(data, content_type)
        ctx.user_entry["image_key"] = key
        self._move("reopen", order_id, photo_key=key, reason=ctx.incoming.text or None)
