"""The close flow: "结单 WO-…" (or "结单" with one open order) → a photo of the fixed site → closed.

The VLM compares the fix with the report photo; the report photo sent again is refused. A photo
sent first (held in idle, see ``ReportFlow.hold_photo``) is the fix photo once the order is picked.
"""

from __future__ import annotations

import logging

from bot.dialogue.flows.base import Abandoned, Refused
from bot.dialogue.flows.report import ReportFlow
from bot.images import ImageRejected, same_picture, sniff_image_type
from bot.orders.events import person
from bot.ports import Order, OrderError, Photo, ServiceError, VlmError

log = logging.getLogger(__name__)


def _picked(mine: list[Order], ref: str) -> Order | None:
    """The user's open order that ``ref`` names: its number in the list shown, or the id's last characters."""
    if ref.isdigit():
        return mine[int(ref) - 1] if int(ref) <= len(mine) else None
    matches = [order for order in mine if order.id.endswith(ref)]
    return matches[0] if len(matches) == 1 else None


class CloseFlow(ReportFlow):
    to_close: Order | None = None
    closed: Order | None = None
    report_photos: tuple[tuple[bytes, str], ...] = ()  # the order's report photos: (bytes, storage key)

    def find_order_to_close(self) -> None:
        orders = self.services.orders
        order_id = self.intent.arg
        try:
            if "-" in order_id:
                order = orders.get(order_id, self.reporter().home)
            else:
                mine = orders.open_for(self.reporter())
                if not mine:
                    self.say("close_which_none")
                    raise self.refused()
                if not order_id and len(mine) > 1:
                    self.say("close_which", orders=self.order_lines(mine, numbered=True))
                    self.offer_orders(mine)
                    if self.pending.get("image_key"):  # the held photo can still be dropped
                        self.offer_cancel()
                    raise self.refused()
                order = _picked(mine, order_id) if order_id else mine[0]
        except ServiceError:
            raise self.refuse("orders", "orders_down") from None
        if order is None:
            self.say("order_not_found", order_id=order_id)
            raise self.refused()
        if order.status != "open":
            self.say("order_not_open", order_id=order.id, status=self.t(f"status_{order.status}"))
            raise self.refused()
        self.to_close = order

    def ask_for_close_photo(self) -> None:
        assert self.to_close is not None
        self.pending["order_id"] = self.to_close.id
        if self.held_photo_key():
            self.follow_up = "close_photo"  # the photo sent first is the fix: check it now
            return
        self.offer_cancel()
        self.say(
            "ask_close_photo",
            order_id=self.to_close.id,
            alarm_type=self.to_close.alarm_type,
            location=self.to_close.location_text or self.t("unknown"),
        )

    def check_fix(self) -> None:
        """Close the order if the photo shows the fix; ``Refused`` keeps waiting, ``Abandoned`` ends the flow.

        A photo held since "new report or the fix?" is used once: refused, it is dropped, and the next
        photo the user sends is checked instead. Of several photos held, the first is the fix photo; the
        others go (a close takes one).
        """
        held = self.held_photo()
        if held is not None:
            self.discard_photos([key for key, _ in self.pending_photos()[1:]])
            for name in ("image_key", "image_type", "more_photos", "photo_at"):
                self.pending.pop(name, None)
        try:
            self._check_fix(held)
        except (Refused, Abandoned):
            if held is not None:
                self.discard_photos([held[2]])
            raise

    def _check_fix(self, held: tuple[bytes, str, str] | None) -> None:
        order_id = self.pending.get("order_id", "")
        services = self.services
        try:
            order = services.orders.get(order_id, self.reporter().home)
        except ServiceError:
            raise self.refuse("orders", "orders_down") from None
        if order is None or order.status != "open":
            status = self.t(f"status_{order.status}") if order else self.t("unknown")
            self.say("close_race", order_id=order_id, status=status)
            raise Abandoned(order_id)
        if held is not None:
            after, after_type, key = held
            self._check_not_the_report_photo(order, after)
        else:
            if self.photo_problem() is not None:
                self.say_photo_problem()
                raise self.refused()
            after, after_type = self.accepted_photo()
            self._check_not_the_report_photo(order, after)
            key = self._store(after, after_type)
        self.user_entry["image_key"] = key
        resolved, reason = self._verdict(order, Photo(after, after_type, self.photo_url(key)))
        try:
            self.closed = services.orders.close(order.id, key, resolved, reason, self.reporter())
        except OrderError:
            self.say("close_race", order_id=order.id, status=self.t("status_closed"))
            raise Abandoned(order.id) from None
        except ServiceError:
            raise self.refuse("orders", "orders_down") from None
        services.events.emit("order.closed", self.closed, by=person(self.reporter()))

    def _check_not_the_report_photo(self, order: Order, after: bytes) -> None:
        """Refuse a "fix" photo that is one of the report photos again (re-sent, re-encoded or turned)."""
        try:
            before = tuple((self.services.storage.get(key), key) for key in order.photo_keys)
        except (KeyError, ServiceError):
            raise self.refuse("storage", "close_original_missing", order_id=order.id) from None
        try:
            same = any(same_picture(data, after) for data, _ in before)
        except ImageRejected:  # the header looked like a photo but the bytes do not decode
            self.say("not_image")
            raise self.refused() from None
        if same:
            self.say("close_same_photo")
            raise self.refused()
        self.report_photos = before

    def _verdict(self, order: Order, after: Photo) -> tuple[bool | None, str]:
        """(True, why) when the VLM sees the fix; (None, "") with no VLM; ``Refused`` when it does not."""
        vlm = self.services.vlm
        if vlm is None:
            return None, ""
        before = [
            Photo(data, sniff_image_type(data) or "image/jpeg", self.photo_url(key)) for data, key in self.report_photos
        ]
        try:
            verdict = vlm.verify_fixed(before, after, order.description, self.session.history)
        except VlmError as exc:
            log.warning("close check failed: %s", exc, extra={"session": self.session.key})
            raise self.refuse("vlm", "close_vlm_failed") from None
        if not verdict.resolved:
            self.say("close_not_resolved", reason=verdict.reason)
            raise self.refused()
        return True, verdict.reason

    def announce_close(self) -> None:
        assert self.closed is not None
        self.order_id = self.closed.id
        self.session.clear_pending()
        if self.closed.vlm_resolved is None:
            self.say("close_unverified", order_id=self.closed.id)
        else:
            self.say("close_resolved", order_id=self.closed.id, reason=self.closed.vlm_reason or "")
