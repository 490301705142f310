"""The look-ups: replies that leave the state as it is (help, status, orders, withdraw, claim, hints)."""

from __future__ import annotations

from bot.dialogue.context import TurnContext
from bot.dialogue.flows.report import ReportFlow
from bot.dialogue.machine import CLOSE_PHOTO, IDLE
from bot.dialogue.next_step import next_step
from bot.dialogue.order_refs import find_order
from bot.orders import moves, rules
from bot.ports import Order, ServiceError
from bot.replies import WITHDRAWN_REASON, reason_text
from bot.replies_voice import VOICE_PROBLEMS


class Lookups:
    """Look-ups and hints: help, status, the user's orders, one order, the reporter withdrawing an order.

    ``bot.dialogue.turn.RESPONDERS`` names them for ``bot.dialogue.machine.ROUTES``; a test holds the two
    to each other. The report flow is a collaborator: "help" or "status" mid-report asks its next
    question again (the type, the place, the summary).
    """

    def __init__(self, ctx: TurnContext, report: ReportFlow) -> None:
        self.ctx = ctx
        self.report = report

    def ask_again(self) -> None:
        """Ask the open question again (``bot.dialogue.next_step``), with its buttons; in idle, the hint."""
        ctx = self.ctx
        step = next_step(ctx.session.state, ctx.pending)
        if step is None:
            ctx.say("idle_text")
        elif step == "photo_use":
            ctx.repeat_offer()
        elif step == "close_photo":
            ctx.say("expect_close_photo", order_id=ctx.pending.get("order_id", ""))
            ctx.offer_cancel()
        else:
            self.report.ask_next()

    def say_help(self) -> None:
        ctx = self.ctx
        step = next_step(ctx.session.state, ctx.pending)
        if step is None:
            ctx.say("help_idle")
        elif step == "photo_use":
            ctx.repeat_offer()  # a photo is held: the open question is the help that matters
        else:
            ctx.say(f"help_{step}", order_id=ctx.pending.get("order_id", ""))
            ctx.keep_buttons()

    def say_status(self) -> None:
        ctx = self.ctx
        p = ctx.pending
        step = next_step(ctx.session.state, p)
        if step in (None, "photo_use"):
            alarm = ctx.t("status_alarm", alarm_id=p["alarm_id"]) if p.get("alarm_id") else ""
            ctx.say("status_idle", alarm=alarm)
            ctx.repeat_offer()
            return
        ctx.say(f"status_{step}", alarm_type=p.get("alarm_type") or ctx.t("unknown"), order_id=p.get("order_id", ""))
        self.ask_again()

    def say_not_understood(self) -> None:
        self.ctx.say("not_understood")
        self.ask_again()

    def say_rough_is_fine(self) -> None:
        """ "不知道": a rough answer will do, and the open question again."""
        if self.ctx.session.state != IDLE:
            self.ctx.say("rough_is_fine")
        self.ask_again()

    def say_voice_unheard(self) -> None:
        """A voice note not heard: why, in one sentence, and the open question again (never a dead end)."""
        reason = self.ctx.intent.arg
        name = f"voice_{reason}" if f"voice_{reason}" in VOICE_PROBLEMS else "voice_stt_failed"
        self.ctx.say(name, limit=f"{self.ctx.settings.max_voice_seconds:g}")
        self.ask_again()

    def acknowledge(self) -> None:
        """Small talk (waiting, thanks, "got it", a greeting): a word back and the open question again, never taken
        as its answer. A greeting with nothing open is the hint of what the bot does."""
        ctx = self.ctx
        open_question = next_step(ctx.session.state, ctx.pending) is not None
        if not open_question and ctx.intent.arg == "greeting":
            self.say_idle_hint()
            return
        ctx.say(f"ack_{ctx.intent.arg}")
        if open_question:
            self.ask_again()

    def say_send_new_photo(self) -> None:
        """ "重新拍", "发错了": the next photo replaces this one (or "cancel"), and the open question again."""
        self.ctx.say("send_new_photo")
        self.ask_again()

    def say_which_type(self) -> None:
        """ "不对" while the bot asks where: it is the type it showed that is wrong."""
        self.report.ask_type("type_which")

    def say_type_list(self) -> None:
        self.report.ask_type()

    def say_my_orders(self) -> None:
        ctx = self.ctx
        try:
            mine = ctx.services.orders.open_for(ctx.reporter())
        except ServiceError:
            ctx.fail("orders", "orders_down")
            return
        if mine:
            ctx.say("my_orders", orders=ctx.order_lines(mine, numbered=True))
        else:
            ctx.say("my_orders_none")

    def _named_order(self, command: str, which: str) -> Order | None:
        """The order the message names; when it names none, "which one?" with the user's open orders as
        buttons (None: the user was told)."""
        ctx = self.ctx
        ref = ctx.intent.arg
        try:
            if not ref:
                mine = ctx.services.orders.open_for(ctx.reporter())
                if mine:
                    ctx.say(which, orders=ctx.order_lines(mine, numbered=True))
                    ctx.offer_orders(mine, command)
                else:
                    ctx.say("order_which_none")
                return None
            order = find_order(ctx, ref)
        except ServiceError:
            ctx.fail("orders", "orders_down")
            return None
        if order is None:
            ctx.say("order_not_found" if "-" in ref else "order_ref_unknown", order_id=ref, ref=ref)
        return order

    def say_order(self) -> None:
        ctx = self.ctx
        order = self._named_order("order", "order_which")
        if order is None:
            return
        ended = ""
        if order.closed_at:
            line = "order_cancelled_line" if order.status == "cancelled" else "order_closed_line"
            ended = ctx.t(line, closed=ctx.when(order.closed_at))
            reason = order.vlm_reason or reason_text(ctx.lang, order.cancel_reason or "")
            ended += ctx.t("order_closed_reason", reason=reason) if reason else ""
        ctx.say(
            "order_status",
            order_id=order.id,
            status=ctx.t(f"status_{order.status}"),
            alarm_type=order.alarm_type,
            location=ctx.place(order) or ctx.t("unknown"),
            created=ctx.when(order.created_at),
            closed=ended,
        )

    def withdraw_order(self) -> None:
        """``取消工单 WO-…``: the reporter withdraws an open order; others in the tenant are refused."""
        ctx = self.ctx
        order = self._named_order("withdraw", "withdraw_which")
        if order is None:
            return
        me = ctx.reporter()
        if order.reporter == me and order.status == "open":
            try:  # the life table's "withdraw": not once resolved (the reporter confirms or reopens it then)
                withdraw = moves.act(
                    ctx.services.orders, ctx.settings, "withdraw", order.id, me, reason=WITHDRAWN_REASON
                )
            except ServiceError:
                ctx.fail("orders", "orders_down")
                return
            if withdraw.done:
                ctx.say("withdrawn", order_id=order.id)
                return
            order = withdraw.order or order  # moved by someone else since we read it, or resolved
        if order.reporter != me:
            ctx.say("withdraw_not_reporter", order_id=order.id)
        else:
            ctx.say("withdraw_not_open", order_id=order.id, status=ctx.t(f"life_{order.life}"))

    def claim_order(self) -> None:
        """``认领 WO-…``: take an order from the duty chat by typing (WeCom group chats have no buttons)."""
        ctx = self.ctx
        if not ctx.intent.arg:
            ctx.say("claim_which")
            return
        try:
            found = find_order(ctx, ctx.intent.arg) if "-" not in ctx.intent.arg else None
            order_id = found.id if found else ctx.intent.arg
            outcome = rules.claim(ctx.services.orders, ctx.services.events, order_id, ctx.reporter())
        except ServiceError:
            ctx.fail("orders", "orders_down")
            return
        ctx.replies.append(rules.claim_reply(ctx.settings.language, outcome, order_id))

    def say_unsupported(self) -> None:
        self.ctx.say("unsupported_kind")

    def say_video(self) -> None:
        """A video: a photo is asked for, and whatever the flow was waiting for is asked again."""
        ctx = self.ctx
        ctx.say("video_not_photo")
        if ctx.session.state != IDLE or ctx.pending.get("image_key"):
            self.ask_again()

    def say_idle_hint(self) -> None:
        ctx = self.ctx
        if ctx.pending.get("image_key"):  # a photo is held: ask again what it is for
            ctx.repeat_offer()
            return
        first_words = ctx.intent.name in ("text", "number", "confirm", "retry", "small_talk") and ctx.session.turns == 0
        ctx.say("welcome" if ctx.incoming.kind == "text" and first_words else "idle_text")

    def say_choice_closed(self) -> None:
        """A tap on a button whose question is over (or was for someone else): nothing changes, and the
        question open now is asked again (in idle, what the bot can do)."""
        self.ctx.say("choice_closed")
        self.ask_again()

    def say_need_location(self) -> None:
        self.ctx.say("need_location")

    def say_finish_first(self) -> None:
        flow = "flow_close" if self.ctx.session.state == CLOSE_PHOTO else "flow_report"
        self.ctx.say("finish_first", flow=self.ctx.t(flow))

    def say_expect_close_photo(self) -> None:
        self.ctx.say("expect_close_photo", order_id=self.ctx.pending.get("order_id", ""))
