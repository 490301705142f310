"""Replies that leave the session's state as it is: help, status, the user's orders, one order,
the reporter withdrawing an order, and short hints.

``RESPONDERS`` names them for ``bot.dialogue.machine.ROUTES``; a test holds the two to each other.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.dialogue.flows.report import ReportFlow
from bot.dialogue.machine import CLOSE_PHOTO, CONFIRM, IDLE, LOCATION
from bot.dialogue.next_step import next_step
from bot.orders import rules as dispatch
from bot.orders.events import person
from bot.ports import OrderError, ServiceError

WITHDRAWN_REASON = "cancelled by reporter"


class Lookups(ReportFlow):
    """Look-ups and hints; a report flow too, since "status" while confirming shows the summary."""

    def say_help(self) -> None:
        state = self.session.state
        if state == CLOSE_PHOTO:
            self.say("help_waiting_close_photo", order_id=self.pending.get("order_id", ""))
        elif state == IDLE and self.pending.get("image_key"):
            self.repeat_offer()  # a photo is held: the open question is the help that matters
            return
        else:
            self.say(f"help_{state}")
        step = next_step(state, self.pending)
        if step == "alarm_type":
            self.ask_type("need_type")  # "reply confirm" in the help would be refused until a type is chosen
        elif step == "confirm":
            self.offer_confirm()
        elif step is not None:
            self.offer_cancel()

    def say_status(self) -> None:
        p, state = self.pending, self.session.state
        if state == IDLE:
            alarm = self.t("status_alarm", alarm_id=p["alarm_id"]) if p.get("alarm_id") else ""
            self.say("status_idle", alarm=alarm)
            self.repeat_offer()
        elif state == LOCATION:
            self.say("status_waiting_location", alarm_type=p.get("alarm_type") or self.t("unknown"))
            self.ask_next()
        elif state == CONFIRM:
            self.say("status_waiting_type" if next_step(state, p) == "alarm_type" else "status_waiting_confirm")
            self.ask_next()
        else:
            self.say("status_waiting_close_photo", order_id=p.get("order_id", ""))
            self.offer_cancel()

    def say_my_orders(self) -> None:
        try:
            mine = self.services.orders.open_for(self.reporter())
        except ServiceError:
            self.fail("orders", "orders_down")
            return
        if mine:
            self.say("my_orders", orders=self.order_lines(mine))
        else:
            self.say("my_orders_none")

    def say_order(self) -> None:
        try:
            order = self.services.orders.get(self.intent.arg, self.reporter().home)
        except ServiceError:
            self.fail("orders", "orders_down")
            return
        if order is None:
            self.say("order_not_found", order_id=self.intent.arg)
            return
        closed = ""
        if order.closed_at:
            reason = order.vlm_reason or order.cancel_reason
            closed = self.t("order_closed_line", closed=self.when(order.closed_at))
            closed += self.t("order_closed_reason", reason=reason) if reason else ""
        self.say(
            "order_status",
            order_id=order.id,
            status=self.t(f"status_{order.status}"),
            alarm_type=order.alarm_type,
            location=order.location_text or self.t("unknown"),
            created=self.when(order.created_at),
            closed=closed,
        )

    def withdraw_order(self) -> None:
        """``取消工单 WO-…``: the reporter withdraws an open order; others in the tenant are refused."""
        orders, me, order_id = self.services.orders, self.reporter(), self.intent.arg
        try:
            order = orders.get(order_id, me.home)
            if order is not None and order.reporter == me and order.status == "open":
                try:
                    order = orders.cancel(order.id, WITHDRAWN_REASON, me, me.home)
                    self.services.events.emit("order.cancelled", order, by=person(me))
                    self.say("withdrawn", order_id=order.id)
                    return
                except OrderError:  # closed or cancelled by someone else since we read it
                    order = orders.get(order_id, me.home)
        except ServiceError:
            self.fail("orders", "orders_down")
            return
        if order is None:
            self.say("order_not_found", order_id=order_id)
        elif order.reporter != me:
            self.say("withdraw_not_reporter", order_id=order.id)
        else:
            self.say("withdraw_not_open", order_id=order.id, status=self.t(f"status_{order.status}"))

    def claim_order(self) -> None:
        """``认领 WO-…``: take an order from the duty chat by typing (WeCom group chats have no buttons)."""
        try:
            outcome = dispatch.claim(self.services.orders, self.services.events, self.intent.arg, self.reporter())
        except ServiceError:
            self.fail("orders", "orders_down")
            return
        self.replies.append(dispatch.claim_reply(self.settings.language, outcome, self.intent.arg))

    def say_unsupported(self) -> None:
        self.say("unsupported_kind")

    def say_video(self) -> None:
        """A video: a photo is asked for, and whatever the flow was waiting for is asked again."""
        self.say("video_not_photo")
        if self.session.state != IDLE or self.pending.get("image_key"):
            self.repeat_offer()

    def say_idle_hint(self) -> None:
        if self.pending.get("image_key"):  # a photo is held: ask again what it is for
            self.repeat_offer()
            return
        first_words = self.intent.name in ("text", "number", "confirm", "retry") and self.session.turns == 0
        self.say("welcome" if self.incoming.kind == "text" and first_words else "idle_text")

    def say_choice_closed(self) -> None:
        """A tap on a button whose question is over (or was for someone else): nothing changes."""
        self.say("choice_closed")
        self.repeat_offer()

    def say_need_location(self) -> None:
        self.say("need_location")

    def say_finish_first(self) -> None:
        flow = "flow_close" if self.session.state == CLOSE_PHOTO else "flow_report"
        self.say("finish_first", flow=self.t(flow))

    def say_expect_close_photo(self) -> None:
        self.say("expect_close_photo", order_id=self.pending.get("order_id", ""))


# The reply-only names ``bot.dialogue.machine.ROUTES`` may give for an input (the others are the machine's triggers).
RESPONDERS: dict[str, Callable[[Lookups], None]] = {
    "say_help": Lookups.say_help,
    "say_status": Lookups.say_status,
    "say_my_orders": Lookups.say_my_orders,
    "say_order": Lookups.say_order,
    "withdraw_order": Lookups.withdraw_order,
    "claim_order": Lookups.claim_order,
    "say_unsupported": Lookups.say_unsupported,
    "say_video": Lookups.say_video,
    "say_idle_hint": Lookups.say_idle_hint,
    "say_choice_closed": Lookups.say_choice_closed,
    "say_need_location": Lookups.say_need_location,
    "say_finish_first": Lookups.say_finish_first,
    "say_expect_close_photo": Lookups.say_expect_close_photo,
}
