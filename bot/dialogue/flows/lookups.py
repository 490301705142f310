"""The look-ups: replies that leave the state as it is (help, status, orders, withdraw, claim, hints)."""

from __future__ import annotations

from bot.dialogue.context import TurnContext
from bot.dialogue.flows.report import ReportFlow
from bot.dialogue.machine import CLOSE_PHOTO, CONFIRM, IDLE, LOCATION
from bot.dialogue.next_step import next_step
from bot.orders import rules
from bot.orders.events import person
from bot.ports import OrderError, ServiceError

WITHDRAWN_REASON = "cancelled by reporter"


class Lookups:
    """Look-ups and hints: help, status, the user's orders, one order, the reporter withdrawing an order.

    ``bot.dialogue.turn.RESPONDERS`` names them for ``bot.dialogue.machine.ROUTES``; a test holds the two
    to each other. The report flow is a collaborator: "help" or "status" mid-report asks its next
    question again (the type, the place, the summary).
    """

    def __init__(self, ctx: TurnContext, report: ReportFlow) -> None:
        self.ctx = ctx
        self.report = report

    def say_help(self) -> None:
        ctx = self.ctx
        state = ctx.session.state
        if state == CLOSE_PHOTO:
            ctx.say("help_waiting_close_photo", order_id=ctx.pending.get("order_id", ""))
        elif state == IDLE and ctx.pending.get("image_key"):
            ctx.repeat_offer()  # a photo is held: the open question is the help that matters
            return
        else:
            ctx.say(f"help_{state}")
        step = next_step(state, ctx.pending)
        if step == "alarm_type":
            self.report.ask_type("need_type")  # "reply confirm" in the help would be refused until a type is chosen
        elif step == "confirm":
            self.report.offer_confirm()
        elif step is not None:
            ctx.offer_cancel()

    def say_status(self) -> None:
        ctx = self.ctx
        p, state = ctx.pending, ctx.session.state
        if state == IDLE:
            alarm = ctx.t("status_alarm", alarm_id=p["alarm_id"]) if p.get("alarm_id") else ""
            ctx.say("status_idle", alarm=alarm)
            ctx.repeat_offer()
        elif state == LOCATION:
            ctx.say("status_waiting_location", alarm_type=p.get("alarm_type") or ctx.t("unknown"))
            self.report.ask_next()
        elif state == CONFIRM:
            ctx.say("status_waiting_type" if next_step(state, p) == "alarm_type" else "status_waiting_confirm")
            self.report.ask_next()
        else:
            ctx.say("status_waiting_close_photo", order_id=p.get("order_id", ""))
            ctx.offer_cancel()

    def say_my_orders(self) -> None:
        ctx = self.ctx
        try:
            mine = ctx.services.orders.open_for(ctx.reporter())
        except ServiceError:
            ctx.fail("orders", "orders_down")
            return
        if mine:
            ctx.say("my_orders", orders=ctx.order_lines(mine))
        else:
            ctx.say("my_orders_none")

    def say_order(self) -> None:
        ctx = self.ctx
        try:
            order = ctx.services.orders.get(ctx.intent.arg, ctx.reporter().home)
        except ServiceError:
            ctx.fail("orders", "orders_down")
            return
        if order is None:
            ctx.say("order_not_found", order_id=ctx.intent.arg)
            return
        closed = ""
        if order.closed_at:
            reason = order.vlm_reason or order.cancel_reason
            closed = ctx.t("order_closed_line", closed=ctx.when(order.closed_at))
            closed += ctx.t("order_closed_reason", reason=reason) if reason else ""
        ctx.say(
            "order_status",
            order_id=order.id,
            status=ctx.t(f"status_{order.status}"),
            alarm_type=order.alarm_type,
            location=order.location_text or ctx.t("unknown"),
            created=ctx.when(order.created_at),
            closed=closed,
        )

    def withdraw_order(self) -> None:
        """``取消工单 WO-…``: the reporter withdraws an open order; others in the tenant are refused."""
        ctx = self.ctx
        orders, me, order_id = ctx.services.orders, ctx.reporter(), ctx.intent.arg
        try:
            order = orders.get(order_id, me.home)
            if order is not None and order.reporter == me and order.status == "open":
                try:
                    order = orders.cancel(order.id, WITHDRAWN_REASON, me, me.home)
                    ctx.services.events.emit("order.cancelled", order, by=person(me))
                    ctx.say("withdrawn", order_id=order.id)
                    return
                except OrderError:  # closed or cancelled by someone else since we read it
                    order = orders.get(order_id, me.home)
        except ServiceError:
            ctx.fail("orders", "orders_down")
            return
        if order is None:
            ctx.say("order_not_found", order_id=order_id)
        elif order.reporter != me:
            ctx.say("withdraw_not_reporter", order_id=order.id)
        else:
            ctx.say("withdraw_not_open", order_id=order.id, status=ctx.t(f"status_{order.status}"))

    def claim_order(self) -> None:
        """``认领 WO-…``: take an order from the duty chat by typing (WeCom group chats have no buttons)."""
        ctx = self.ctx
        try:
            outcome = rules.claim(ctx.services.orders, ctx.services.events, ctx.intent.arg, ctx.reporter())
        except ServiceError:
            ctx.fail("orders", "orders_down")
            return
        ctx.replies.append(rules.claim_reply(ctx.settings.language, outcome, ctx.intent.arg))

    def say_unsupported(self) -> None:
        self.ctx.say("unsupported_kind")

    def say_video(self) -> None:
        """A video: a photo is asked for, and whatever the flow was waiting for is asked again."""
        ctx = self.ctx
        ctx.say("video_not_photo")
        if ctx.session.state != IDLE or ctx.pending.get("image_key"):
            ctx.repeat_offer()

    def say_idle_hint(self) -> None:
        ctx = self.ctx
        if ctx.pending.get("image_key"):  # a photo is held: ask again what it is for
            ctx.repeat_offer()
            return
        first_words = ctx.intent.name in ("text", "number", "confirm", "retry") and ctx.session.turns == 0
        ctx.say("welcome" if ctx.incoming.kind == "text" and first_words else "idle_text")

    def say_choice_closed(self) -> None:
        """A tap on a button whose question is over (or was for someone else): nothing changes."""
        self.ctx.say("choice_closed")
        self.ctx.repeat_offer()

    def say_need_location(self) -> None:
        self.ctx.say("need_location")

    def say_finish_first(self) -> None:
        flow = "flow_close" if self.ctx.session.state == CLOSE_PHOTO else "flow_report"
        self.ctx.say("finish_first", flow=self.ctx.t(flow))

    def say_expect_close_photo(self) -> None:
        self.ctx.say("expect_close_photo", order_id=self.ctx.pending.get("order_id", ""))
