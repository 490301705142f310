"""The report flow: a photo (stored, analysed) → where → a summary → confirm creates the order."""

from __future__ import annotations

import hashlib
import logging
import time

from bot import intents
from bot.flows.base import TurnBase
from bot.machine import CONFIRM, IDLE
from bot.next_step import next_step
from bot.ports import NewOrder, Order, Photo, ServiceError, VlmError

log = logging.getLogger(__name__)

# The pending fields a report photo brings; a new photo replaces them all.
REPORT_FIELDS = ("image_key", "image_type", "alarm_type", "description", "severity", "confidence", "analysis_failed")


class ReportFlow(TurnBase):
    created: Order | None = None

    # -- the photo ------------------------------------------------------------------------------------------
    def take_report_photo(self) -> None:
        data, content_type = self.accepted_photo()
        try:
            key = self.services.storage.put(data, content_type)
        except ServiceError:
            log.warning("photo storage failed", extra={"session": self.session.key})
            raise self.refuse("storage", "storage_down") from None
        if self.pending.get("image_key"):
            self.say("photo_replaced")
            self.discard_report_photo()
        for name in REPORT_FIELDS:
            self.pending.pop(name, None)
        self.pending.update(image_key=key, image_type=content_type)
        self.user_entry["image_key"] = key
        self._analyze(Photo(data, content_type, self.photo_url(key)))

    def analyze_again(self) -> None:
        key = self.pending["image_key"]
        try:
            data = self.services.storage.get(key)
        except (KeyError, ServiceError):
            raise self.refuse("storage", "storage_down") from None
        self._analyze(Photo(data, self.pending.get("image_type", "image/jpeg"), self.photo_url(key)))

    def _analyze(self, photo: Photo) -> None:
        """Ask the VLM; when it is off or fails, the photo stays and the user picks the type."""
        vlm = self.services.vlm
        if vlm is None:
            self.pending["analysis_failed"] = "off"
            self.say("vlm_off", choices=self.type_choices())
            return
        try:
            analysis = vlm.analyze(photo, self.settings.alarm_type_list, self.session.history)
        except VlmError as exc:
            log.warning("photo analysis failed: %s", exc, extra={"session": self.session.key})
            self.pending["analysis_failed"] = "error"
            self.fail("vlm", "vlm_failed", choices=self.type_choices())
            return
        self.pending.pop("analysis_failed", None)
        self.pending.update(
            alarm_type=analysis.alarm_type,
            description=analysis.description,
            severity=analysis.severity,
            confidence=analysis.confidence,
        )
        self.say(
            "analysis",
            alarm_type=analysis.alarm_type,
            severity=self.t(f"severity_{analysis.severity}"),
            description=analysis.description,
        )

    # -- where and what -------------------------------------------------------------------------------------
    def ask_for_location(self) -> None:
        self.say("ask_location")

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
        self.pending["alarm_type"] = chosen
        self.pending.pop("analysis_failed", None)
        self.say("type_set", alarm_type=chosen)

    def say_type_unknown(self) -> None:
        self.say("type_unknown", choices=self.type_choices())

    def say_nothing_to_retry(self) -> None:
        self.say("nothing_to_retry")

    def say_need_type(self) -> None:
        self.say("need_type", choices=self.type_choices())

    def remember_alarm(self) -> None:
        self.pending["alarm_id"] = self.intent.arg
        self.say("alarm_linked" if self.session.state == IDLE else "alarm_linked_pending", alarm_id=self.intent.arg)

    # -- summary and confirm --------------------------------------------------------------------------------
    def show_summary(self) -> None:
        """The report as it stands, ending with what the bot accepts next (the machine's answer, not a guess)."""
        p = self.pending
        alarm = self.t("summary_alarm", alarm_id=p["alarm_id"]) if p.get("alarm_id") else ""
        step = next_step(CONFIRM, p)
        self.say(
            "summary",
            alarm_type=p.get("alarm_type") or self.t("unknown"),
            severity=self.t(f"severity_{p['severity']}") if p.get("severity") else self.t("unknown"),
            description=p.get("description") or self.t("no_description"),
            location=self.location_text(p.get("location")) or self.t("unknown"),
            alarm=alarm,
            next=self.t("summary_next_confirm") if step == "confirm" else "",
        )
        if step == "alarm_type":
            self.say_need_type()

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
            alarm_id=p.get("alarm_id"),
            history=history,
        )
        try:
            self.created, _ = self.services.orders.create(new)
        except ServiceError:
            log.warning("work-order create failed", extra={"session": self.session.key})
            raise self.refuse("orders", "orders_down") from None

    def announce_order(self) -> None:
        assert self.created is not None
        self.order_id = self.created.id
        self.session.clear_pending()
        self.say("order_created", order_id=self.created.id)
