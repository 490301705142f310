"""The close flow: "结单 WO-…" / "完成 WO-…" (or "结单" with one open order) → a photo of the fixed site → resolved
(the assignee's fix: the reporter is asked "is it fixed?") or closed (the reporter's own word)."""

from __future__ import annotations

import logging

from bot.dialogue.context import Abandoned, Refused, TurnContext
from bot.dialogue.order_refs import find_order
from bot.dialogue.photos import StoredPhoto, TurnPhotos
from bot.images import ImageRejected, same_picture, sniff_image_type
from bot.orders import life, moves
from bot.ports import Order, Photo, ServiceError, VlmError

log = logging.getLogger(__name__)


class CloseFlow:
    """Closing one of the user's open orders with a photo of the fix.

    The VLM compares the fix with the report photo; the report photo sent again is refused. A photo
    sent first (held in idle, see ``ReportFlow.hold_photo``) is the fix photo once the order is picked.
    """

    def __init__(self, ctx: TurnContext, photos: TurnPhotos) -> None:
        self.ctx = ctx
        self.photos = photos
        self.to_close: Order | None = None
        self.closed: Order | None = None  # closed, or resolved (the reporter is asked to confirm)
        self.report_photos: tuple[tuple[bytes, str], ...] = ()  # the order's report photos: (bytes, storage key)

    def find_order_to_close(self) -> None:
        ctx = self.ctx
        orders = ctx.services.orders
        order_id = ctx.intent.arg
        try:
            if order_id:
                order = find_order(ctx, order_id)
            else:
                mine = self._finishable(orders.movable_by(ctx.reporter()))
                if not mine:
                    ctx.say("close_which_none")
                    raise ctx.refused()
                if len(mine) > 1:
                    ctx.say("close_which", orders=ctx.order_lines(mine, numbered=True))
                    ctx.offer_orders(mine)
                    if ctx.pending.get("image_key"):  # the held photo can still be dropped
                        ctx.offer_cancel()
                    raise ctx.refused()
                order = mine[0]
        except ServiceError:
            raise ctx.refuse("orders", "orders_down") from None
        if order is None:
            ctx.say("order_not_found" if "-" in order_id else "order_ref_unknown", order_id=order_id, ref=order_id)
            raise ctx.refused()
        if order.status != "open":
            ctx.say("order_not_open", order_id=order.id, status=ctx.t(f"status_{order.status}"))
            raise ctx.refused()
        problem = self._may_finish(order)
        if problem:
            refusal = moves.Outcome(self._action(order), order, problem)
            ctx.replies.append(moves.reply(ctx.lang, refusal, order.id, ctx.settings))
            raise ctx.refused()
        self.to_close = order

    def _finishable(self, orders: list[Order]) -> list[Order]:
        """Of the orders a move without its order may mean, those this user reported or holds and may finish now."""
        me = self.ctx.reporter()
        return [o for o in orders if o.status == "open" and me in (o.reporter, o.assignee) and not self._may_finish(o)]

    def _action(self, order: Order) -> str:
        """The reporter's own fix photo closes their order; anyone else's (the assignee's) resolves it."""
        return "close" if self.ctx.reporter() == order.reporter else "resolve"

    def _may_finish(self, order: Order) -> str:
        """ "" when this user may finish the order now (``life.check``: the assignee, the reporter, ops; anyone with
        ``CLOSE_POLICY=anyone``); else "state" or "who"."""
        ctx, me = self.ctx, self.ctx.reporter()
        return life.check(self._action(order), order, life.roles_of(order, me), ctx.settings.close_policy)

    def ask_for_close_photo(self) -> None:
        ctx = self.ctx
        assert self.to_close is not None
        ctx.pending["order_id"] = self.to_close.id
        if self.photos.held_key():
            ctx.follow_up = "close_photo"  # the photo sent first is the fix: check it now
            return
        ctx.offer_cancel()
        ctx.say(
            "ask_close_photo",
            order_id=self.to_close.id,
            alarm_type=self.to_close.alarm_type,
            location=self.to_close.location_text or ctx.t("unknown"),
        )

    def check_fix(self) -> None:
        """Close the order if the photo shows the fix; ``Refused`` keeps waiting, ``Abandoned`` ends the flow.

        A photo held since "new report or the fix?" is used once: refused, it is dropped, and the next
        photo the user sends is checked instead. Of several photos held, the first is the fix photo; the
        others go (a close takes one).
        """
        held = self.photos.first_held()
        if held is not None:
            self.photos.discard([key for key, _ in self.photos.of_report()[1:]])
            for name in ("image_key", "image_type", "more_photos", "photo_at"):
                self.ctx.pending.pop(name, None)
        try:
            self._check_fix(held)
        except (Refused, Abandoned):
            if held is not None:
                self.photos.discard([held[2]])
            raise

    def _check_fix(self, held: StoredPhoto | None) -> None:
        ctx = self.ctx
        order_id = ctx.pending.get("order_id", "")
        services = ctx.services
        try:
            order = services.orders.get(order_id, ctx.reporter().home)
        except ServiceError:
            raise ctx.refuse("orders", "orders_down") from None
        if order is None or order.status != "open" or self._may_finish(order):
            status = ctx.t(f"life_{order.life}") if order else ctx.t("unknown")
            ctx.say("close_race", order_id=order_id, status=status)
            raise Abandoned(order_id)
        if held is not None:
            after, after_type, key = held
            self._check_not_the_report_photo(order, after)
        else:
            if self.photos.problem() is not None:
                self.photos.say_problem()
                raise ctx.refused()
            after, after_type = self.photos.first_accepted()
            self._check_not_the_report_photo(order, after)
            key = self.photos.store(after, after_type)
        ctx.user_entry["image_key"] = key
        resolved, reason = self._verdict(order, Photo(after, after_type, self.photos.url(key)))
        try:
            outcome = moves.act(
                services.orders,
                ctx.settings,
                self._action(order),
                order.id,
                ctx.reporter(),
                photo_key=key,
                resolved=resolved,
                why=reason,
            )
        except ServiceError:
            raise ctx.refuse("orders", "orders_down") from None
        if not outcome.done or outcome.order is None:
            now = outcome.order.life if outcome.order else "closed"
            ctx.say("close_race", order_id=order.id, status=ctx.t(f"life_{now}"))
            raise Abandoned(order.id)
        self.closed = outcome.order

    def _check_not_the_report_photo(self, order: Order, after: bytes) -> None:
        """Refuse a "fix" photo that is one of the report photos again (re-sent, re-encoded or turned)."""
        ctx = self.ctx
        try:
            before = tuple((ctx.services.storage.get(key), key) for key in order.photo_keys)
        except (KeyError, ServiceError):
            raise ctx.refuse("storage", "close_original_missing", order_id=order.id) from None
        try:
            same = any(same_picture(data, after) for data, _ in before)
        except ImageRejected:  # the header looked like a photo but the bytes do not decode
            ctx.say("not_image")
            raise ctx.refused() from None
        if same:
            ctx.say("close_same_photo")
            raise ctx.refused()
        self.report_photos = before

    def _verdict(self, order: Order, after: Photo) -> tuple[bool | None, str]:
        """(True, why) when the VLM sees the fix; (None, "") with no VLM; ``Refused`` when it does not."""
        ctx = self.ctx
        vlm = ctx.services.vlm
        if vlm is None:
            return None, ""
        before = [
            Photo(data, sniff_image_type(data) or "image/jpeg", self.photos.url(key))
            for data, key in self.report_photos
        ]
        try:
            verdict = vlm.verify_fixed(before, after, order.description, ctx.session.history)
        except VlmError as exc:
            log.warning("close check failed: %s", exc, extra={"session": ctx.session.key})
            raise ctx.refuse("vlm", "close_vlm_failed") from None
        if not verdict.resolved:
            ctx.say("close_not_resolved", reason=verdict.reason)
            raise ctx.refused()
        return True, verdict.reason

    def announce_close(self) -> None:
        ctx = self.ctx
        assert self.closed is not None
        ctx.order_id = self.closed.id
        ctx.session.clear_pending()
        if self.closed.life == "resolved":
            hours = f"{ctx.settings.auto_confirm_hours:g}"
            ctx.say("resolved_wait", order_id=self.closed.id, hours=hours)
        elif self.closed.vlm_resolved is None:
            ctx.say("close_unverified", order_id=self.closed.id)
        else:
            ctx.say("close_resolved", order_id=self.closed.id, reason=self.closed.vlm_reason or "")
