"""The report flow: a photo (stored, analysed) → where → a summary → confirm creates the order."""

from __future__ import annotations

import hashlib
import logging
import time
from datetime import UTC, datetime

from bot.dialogue import choices, intents
from bot.dialogue.flows.base import StoredPhoto, TurnBase
from bot.dialogue.machine import IDLE
from bot.dialogue.next_step import next_step
from bot.images import ImageRejected, perceptual_hash
from bot.orders import rules as dispatch
from bot.orders.events import person
from bot.ports import NewOrder, Order, OrderError, Photo, ServiceError, VlmError

log = logging.getLogger(__name__)

# The pending fields a report photo brings; a new photo replaces them (a type the user chose stays).
REPORT_FIELDS = (
    "image_key",
    "image_type",
    "more_photos",
    "photo_at",
    "alarm_type",
    "type_chosen",
    "description",
    "severity",
    "confidence",
    "analysis_failed",
    "photo_hash",
    "same_as",
)
# The most open orders offered as buttons ("which one?"); the typed list shows them all.
MAX_ORDER_BUTTONS = 5


class ReportFlow(TurnBase):
    created: Order | None = None
    joined: Order | None = None
    open_orders: tuple[Order, ...] = ()

    # -- the photo ------------------------------------------------------------------------------------------
    def take_report_photo(self) -> None:
        """Store the photos (or take those held in idle) and analyse them, with the photos of this report
        sent moments before (a burst: one report, one VLM request); the location and a chosen type stay.
        A photo sent later replaces the report's photos."""
        photos = self.held_photos()
        if not photos:
            earlier = self.burst_photos()
            added = self._store_new(len(earlier))
            if earlier:
                self.say("photo_added", count=len(earlier) + len(added))
            elif self.pending.get("image_key"):
                self.say("photo_replaced")
                self.discard_report_photo()
            photos = earlier + added
        keep = ("alarm_type", "type_chosen") if self.pending.get("type_chosen") else ()
        for name in REPORT_FIELDS:
            if name not in keep:
                self.pending.pop(name, None)
        self.set_pending_photos(photos, self.incoming.sent_at)
        self._remember_hash(photos[0][0])
        self._analyze([Photo(data, kind, self.photo_url(key)) for data, kind, key in photos])

    def in_burst(self) -> bool:
        """Does this photo follow the report's last one within ``PHOTO_BURST_SECONDS`` (one report)?"""
        last = self.pending.get("photo_at")
        if not self.pending.get("image_key") or not isinstance(last, int | float):
            return False
        return self.incoming.sent_at - last <= self.settings.photo_burst_seconds

    def burst_photos(self) -> list[StoredPhoto]:
        return self.stored_photos() if self.in_burst() else []

    def _store_new(self, already: int) -> list[StoredPhoto]:
        """Store this message's photos, up to ``MAX_PHOTOS_PER_REPORT`` with the ``already`` kept; say
        what did not fit or could not be used. ``Refused`` when none fits."""
        limit = self.settings.max_photos_per_report
        new = self.accepted_photos()
        room = max(0, limit - already)
        left_out = self.photos_left_out()
        if len(new) > room:
            self.say("photos_over_limit", limit=limit, count=len(new) - room)
        if left_out:
            self.say("photos_left_out", count=left_out)
        if not room:  # the question the photos were sent to stays open: ask it again
            if self.state_before == IDLE:
                self.repeat_offer()
            else:
                self.ask_next()
            raise self.refused()
        stored = [(data, kind, self._store(data, kind)) for data, kind in new[:room]]
        self.user_entry["image_key"] = stored[0][2]
        if len(stored) > 1:
            self.user_entry["more_image_keys"] = [key for _, _, key in stored[1:]]
        return stored

    def _store(self, data: bytes, content_type: str) -> str:
        try:
            return self.services.storage.put(data, content_type)
        except ServiceError:
            log.warning("photo storage failed", extra={"session": self.session.key})
            raise self.refuse("storage", "storage_down") from None

    def _remember_hash(self, data: bytes) -> None:
        """The first photo's perceptual hash: a later report of the same spot is recognised by it."""
        try:
            self.pending["photo_hash"] = f"{perceptual_hash(data):016x}"
        except ImageRejected:
            self.pending.pop("photo_hash", None)

    def analyze_again(self) -> None:
        self._analyze([Photo(data, kind, self.photo_url(key)) for data, kind, key in self.stored_photos()])

    def _analyze(self, photos: list[Photo]) -> None:
        """Ask the VLM; when it is off or fails, the photo stays and the user picks the type next."""
        vlm = self.services.vlm
        if vlm is None:
            self.pending["analysis_failed"] = "off"
            self.say("photo_received")
            return
        try:
            analysis = vlm.analyze(photos, self.settings.alarm_type_list, self.session.history)
        except VlmError as exc:
            log.warning("photo analysis failed: %s", exc, extra={"session": self.session.key})
            self.pending["analysis_failed"] = "error"
            self.fail("vlm", "vlm_failed")
            return
        self.pending.pop("analysis_failed", None)
        if not self.pending.get("type_chosen"):
            self.pending["alarm_type"] = analysis.alarm_type
        self.pending.update(
            description=analysis.description, severity=analysis.severity, confidence=analysis.confidence
        )
        self.say(
            "analysis",
            alarm_type=analysis.alarm_type,
            severity=self.t(f"severity_{analysis.severity}"),
            description=analysis.description,
        )

    # -- a photo in idle from someone with open orders: a new report, or the fix for one of them? -----------
    def look_up_open_orders(self) -> None:
        """Before the conditions: the user's open orders in this tenant (none when the database is down,
        so a report can still start)."""
        try:
            self.open_orders = tuple(self.services.orders.open_for(self.reporter()))
        except ServiceError:
            self.open_orders = ()

    def has_open_orders(self) -> bool:
        return bool(self.open_orders)

    def hold_photo(self) -> None:
        """Keep the photos while the user says what they are for; a burst adds to those held."""
        earlier = [(b"", kind, key) for key, kind in self.pending_photos()] if self.in_burst() else []
        added = self._store_new(len(earlier))
        if not earlier:
            self.discard_report_photo()  # photos held before, not chosen for anything
        self.set_pending_photos(earlier + added, self.incoming.sent_at)

    def ask_new_or_fix(self) -> None:
        shown = list(self.open_orders[:MAX_ORDER_BUTTONS])
        self.say("new_or_fix", orders=self.order_lines(shown, numbered=True))
        self.offer_orders(shown)
        self.offer("new", self.t("choice_new"), "primary")
        self.offer_cancel()

    def offer_orders(self, orders: list[Order]) -> None:
        for order in orders[:MAX_ORDER_BUTTONS]:
            self.offer(
                choices.close_choice(order.id), self.t("choice_close", short=order.id[-5:], what=order.alarm_type)
            )

    def say_no_held_photo(self) -> None:
        self.say("idle_text")

    # -- the next question: one per turn, the type before the place -----------------------------------------
    def ask_next(self) -> None:
        """Ask for what the report needs next (``bot.dialogue.next_step``): the type, the place, or the confirm."""
        step = next_step(self.state, self.pending)
        if step == "alarm_type":
            self.ask_type()
        elif step == "location":
            self.say("ask_location")
            self.offer_cancel()
        elif step == "confirm":
            self.show_summary()

    def ask_type(self, name: str = "ask_type") -> None:
        self.say(name, choices=self.type_choices())
        self.offer_types()
        if self.pending.get("analysis_failed") == "error":
            self.offer("retry", self.t("choice_retry"))
        self.offer_cancel()

    def take_location(self) -> None:
        loc = self.incoming.location
        if loc is not None:
            self.pending["location"] = {"label": loc.label, "latitude": loc.latitude, "longitude": loc.longitude}
        else:
            self.pending["location"] = {"label": intents.normalize(self.incoming.text)[:500]}

    def chosen_type(self) -> str | None:
        """The alarm type the user's answer names (a list number, the name, or an unambiguous part of it)."""
        types = self.settings.alarm_type_list
        answer = self.intent.arg.strip()
        if answer.isdigit():
            index = int(answer)
            return types[index - 1] if 1 <= index <= len(types) else None
        lowered = answer.lower()
        exact = [t for t in types if t.lower() == lowered]
        partial = [t for t in types if lowered and (lowered in t.lower() or t.lower() in lowered)]
        if exact:
            return exact[0]
        return partial[0] if len(partial) == 1 else None

    def take_type(self) -> None:
        chosen = self.chosen_type()
        assert chosen is not None  # the transition's condition
        self.pending.update(alarm_type=chosen, type_chosen=True)
        self.pending.pop("analysis_failed", None)
        self.say("type_set", alarm_type=chosen)

    def say_type_unknown(self) -> None:
        self.ask_type("type_unknown")

    def say_nothing_to_retry(self) -> None:
        self.say("nothing_to_retry")

    def say_need_type(self) -> None:
        self.ask_type("need_type")

    def remember_alarm(self) -> None:
        self.pending["alarm_id"] = self.intent.arg
        self.say("alarm_linked" if self.session.state == IDLE else "alarm_linked_pending", alarm_id=self.intent.arg)

    # -- summary and confirm --------------------------------------------------------------------------------
    def show_summary(self) -> None:
        """The report as it stands, only the fields that have values, with Confirm / Cancel."""
        p = self.pending
        fields = [
            ("summary_type", p.get("alarm_type")),
            ("summary_severity", self.t(f"severity_{p['severity']}") if p.get("severity") else ""),
            ("summary_description", p.get("description")),
            ("summary_location", self.location_text(p.get("location"))),
            ("summary_alarm", p.get("alarm_id")),
        ]
        lines = "\n".join(self.t(name, value=value) for name, value in fields if value)
        self.say("summary", fields=lines)
        same = self._same_order()
        if same is None:
            self.pending.pop("same_as", None)
            self.offer_confirm()
            return
        self.pending["same_as"] = same.id
        minutes = max(0, int((datetime.now(UTC) - same.created_at).total_seconds() // 60))
        place = same.location_text or self.t("place_unknown")
        self.say("same_problem", order_id=same.id, place=place, minutes=minutes, photos=len(same.photo_keys))
        self.offer("same", self.t("choice_same"), "primary")
        self.offer("confirm", self.t("choice_new_order"))
        self.offer_cancel()

    def _same_order(self) -> Order | None:
        p = self.pending
        if not p.get("alarm_type"):
            return None
        home = self.reporter().home
        return dispatch.find_same(
            self.services.orders, self.settings, home, p["alarm_type"], p.get("location") or {}, p.get("photo_hash")
        )

    def has_same_order(self) -> bool:
        return bool(self.pending.get("same_as"))

    def join_order(self) -> None:
        """ "Same — add my photo": the photos and the reporter go onto the open order; nothing new is made."""
        order_id = self.pending["same_as"]
        photos = [key for key, _ in self.pending_photos()]
        try:
            self.joined = self.services.orders.add_report(order_id, self.reporter(), photos)
        except OrderError:  # closed, cancelled (or gone) since the summary
            self.pending.pop("same_as", None)
            self.say("same_gone", order_id=order_id)
            self.offer_confirm()
            raise self.refused() from None
        except ServiceError:
            raise self.refuse("orders", "orders_down") from None
        self.services.events.emit(
            "order.duplicate_reported", self.joined, by=person(self.reporter()), photos=len(photos)
        )

    def announce_joined(self) -> None:
        assert self.joined is not None
        self.order_id = self.joined.id
        self.session.clear_pending()
        self.say("joined_order", order_id=self.joined.id)

    def offer_confirm(self) -> None:
        self.offer("confirm", self.t("choice_confirm"), "primary")
        self.offer_cancel()

    def create_order(self) -> None:
        p = self.pending
        location = p.get("location") or {}
        # The same report confirmed twice (a redelivery, a double tap) makes one order.
        report_key = hashlib.sha256(f"{self.session.key}|{p['image_key']}".encode()).hexdigest()[:40]
        history = [*self.session.history, {"role": "user", "at": round(time.time(), 3), **self.user_entry}]
        new = NewOrder(
            report_key=report_key,
            reporter=self.reporter(),
            alarm_type=p["alarm_type"],
            description=p.get("description") or "",
            severity=p.get("severity") or "medium",
            location_text=location.get("label") or "",
            latitude=location.get("latitude"),
            longitude=location.get("longitude"),
            report_photo_key=p["image_key"],
            more_photo_keys=tuple(key for key, _ in self.pending_photos()[1:]),
            alarm_id=p.get("alarm_id"),
            history=history,
            photo_hash=p.get("photo_hash"),
        )
        try:
            self.created, created_now = self.services.orders.create(new)
        except ServiceError:
            log.warning("work-order create failed", extra={"session": self.session.key})
            raise self.refuse("orders", "orders_down") from None
        if created_now:
            self.services.events.emit("order.created", self.created)

    def announce_order(self) -> None:
        assert self.created is not None
        self.order_id = self.created.id
        self.session.clear_pending()
        self.say("order_created", order_id=self.created.id, created=self.when(self.created.created_at))
