"""The report flow: a photo (stored, analysed) → where → a summary → confirm creates the order."""

from __future__ import annotations

import functools
import hashlib
import logging
import time

from bot.dialogue import alarm_types, choices
from bot.dialogue.context import MAX_ORDER_BUTTONS, TurnContext
from bot.dialogue.flows.places import MAX_LABEL_CHARS, PlaceQuestion
from bot.dialogue.flows.sites import site_place
from bot.dialogue.machine import IDLE
from bot.dialogue.next_step import next_step
from bot.dialogue.photos import StoredPhoto, TurnPhotos
from bot.dialogue.voice import first_clause, keep_audio
from bot.images import ImageRejected, perceptual_hash
from bot.orders import rules
from bot.ports import NewOrder, Order, OrderError, Photo, ServiceError, VlmError
from bot.sites.geo import datum_of

log = logging.getLogger(__name__)

MAX_NOTE_CHARS = 1000

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


class ReportFlow:
    """A report from its first photo to the order it makes (or joins)."""

    def __init__(self, ctx: TurnContext, photos: TurnPhotos, places: PlaceQuestion) -> None:
        self.ctx = ctx
        self.photos = photos
        self.places = places
        self.created: Order | None = None
        self.joined: Order | None = None
        self.open_orders: tuple[Order, ...] = ()
        self.burst_added = False
        self.burst_waiting = False  # more photos of this report are on their way: no analysis, no question yet

    # -- the photo ------------------------------------------------------------------------------------------
    def take_report_photo(self) -> None:
        """Store the photos (or take those held in idle) and analyse them, with the photos of this report
        sent moments before (a burst: one report, one VLM request); the location and a chosen type stay.
        A photo sent later replaces the report's photos."""
        ctx, pending = self.ctx, self.ctx.pending
        photos = self.photos.held()
        if not photos:
            earlier = self.burst_photos()
            added = self._store_new(len(earlier))
            if earlier:
                self.burst_added = True  # the types were listed moments ago: the next question is short
                analysed = ctx.services.vlm is not None and not ctx.more_photos_coming
                ctx.say("photo_added" if analysed else "photo_added_plain", count=len(earlier) + len(added))
            elif pending.get("image_key"):
                ctx.say("photo_replaced")
                self.photos.discard_report()
            photos = earlier + added
        keep = ("alarm_type", "type_chosen") if pending.get("type_chosen") else ()
        for name in REPORT_FIELDS:
            if name not in keep:
                pending.pop(name, None)
        self.photos.set_report(photos, ctx.incoming.sent_at)
        self._remember_hash(photos[0][0])
        self.places.sites.take_scanned(self.tag_photos)
        if ctx.more_photos_coming:  # the burst's last photo analyses them all, in one request, and asks next
            self.burst_waiting = True
            if not self.burst_added:
                ctx.say("photo_burst_waiting")
            return
        self._analyze([Photo(data, kind, self.photos.url(key)) for data, kind, key in photos])

    @functools.cached_property
    def tag_photos(self) -> list[bytes]:
        """The photos a QR tag is looked for in: this message's, or those held in idle (a burst's earlier photos
        were looked at on their own turns)."""
        held = self.photos.held_key() is not None
        return [data for data, _, _ in self.photos.held()] if held else [d for d, _ in self.photos.accepted()]

    def in_burst(self) -> bool:
        """Does this photo follow the report's last one within ``PHOTO_BURST_SECONDS`` (one report)?"""
        pending = self.ctx.pending
        last = pending.get("photo_at")
        if not pending.get("image_key") or not isinstance(last, int | float):
            return False
        return self.ctx.incoming.sent_at - last <= self.ctx.settings.photo_burst_seconds

    def burst_photos(self) -> list[StoredPhoto]:
        return self.photos.read_report() if self.in_burst() else []

    def _store_new(self, already: int) -> list[StoredPhoto]:
        """Store this message's photos, up to ``MAX_PHOTOS_PER_REPORT`` with the ``already`` kept; say
        what did not fit or could not be used. ``Refused`` when none fits."""
        ctx = self.ctx
        limit = ctx.settings.max_photos_per_report
        new = self.photos.accepted()
        room = max(0, limit - already)
        left_out = self.photos.left_out()
        if len(new) > room:
            ctx.say("photos_over_limit", limit=limit, count=len(new) - room)
        if left_out:
            ctx.say("photos_left_out", count=left_out)
        if not room:  # the question the photos were sent to stays open: ask it again
            if ctx.state_before == IDLE:
                ctx.repeat_offer()
            else:
                self.ask_next()
            raise ctx.refused()
        stored = [(data, kind, self.photos.store(data, kind)) for data, kind in new[:room]]
        ctx.user_entry["image_key"] = stored[0][2]
        if len(stored) > 1:
            ctx.user_entry["more_image_keys"] = [key for _, _, key in stored[1:]]
        return stored

    def _remember_hash(self, data: bytes) -> None:
        """The first photo's perceptual hash: a later report of the same spot is recognised by it."""
        try:
            self.ctx.pending["photo_hash"] = f"{perceptual_hash(data):016x}"
        except ImageRejected:
            self.ctx.pending.pop("photo_hash", None)

    def analyze_again(self) -> None:
        self._analyze([Photo(data, kind, self.photos.url(key)) for data, kind, key in self.photos.read_report()])

    def _analyze(self, photos: list[Photo]) -> None:
        """Ask the VLM; when it is off or fails, the photo stays and the user picks the type next."""
        ctx, pending = self.ctx, self.ctx.pending
        vlm = ctx.services.vlm
        if vlm is None:
            pending["analysis_failed"] = "off"
            if not self.burst_added:  # "added to this report" said it already
                ctx.say("photo_received")
            return
        try:
            analysis = vlm.analyze(photos, ctx.settings.alarm_type_list, ctx.session.history)
        except VlmError as exc:
            log.warning("photo analysis failed: %s", exc, extra={"session": ctx.session.key})
            pending["analysis_failed"] = "error"
            ctx.fail("vlm", "vlm_failed")
            return
        pending.pop("analysis_failed", None)
        if not pending.get("type_chosen"):
            pending["alarm_type"] = analysis.alarm_type
        pending.update(description=analysis.description, severity=analysis.severity, confidence=analysis.confidence)
        ctx.say(
            "analysis",
            alarm_type=analysis.alarm_type,
            severity=ctx.t(f"severity_{analysis.severity}"),
            description=analysis.description,
        )

    # -- a photo in idle from someone with open orders: a new report, or the fix for one of them? -----------
    def look_up_open_orders(self) -> None:
        """Before the conditions: the user's open orders in this tenant (none when the database is down,
        so a report can still start)."""
        try:
            self.open_orders = tuple(self.ctx.services.orders.open_for(self.ctx.reporter()))
        except ServiceError:
            self.open_orders = ()

    def has_open_orders(self) -> bool:
        return bool(self.open_orders)

    def hold_photo(self) -> None:
        """Keep the photos while the user says what they are for; a burst adds to those held."""
        earlier = [(b"", kind, key) for key, kind in self.photos.of_report()] if self.in_burst() else []
        added = self._store_new(len(earlier))
        if not earlier:
            self.photos.discard_report()  # photos held before, not chosen for anything
        self.photos.set_report(earlier + added, self.ctx.incoming.sent_at)

    def ask_new_or_fix(self) -> None:
        ctx = self.ctx
        shown = list(self.open_orders[:MAX_ORDER_BUTTONS])
        ctx.say("new_or_fix", orders=ctx.order_lines(shown, numbered=True))
        ctx.offer_orders(shown)
        ctx.offer("new", ctx.t("choice_new"), "primary")
        ctx.offer_cancel()

    def say_no_held_photo(self) -> None:
        self.ctx.say("idle_text")

    # -- the next question: one per turn, the type before the place -----------------------------------------
    def ask_next(self) -> None:
        """Ask for what the report needs next (``bot.dialogue.next_step``): the type, the place, or the confirm."""
        if self.burst_waiting:
            return
        step = next_step(self.ctx.state, self.ctx.pending)
        if step == "place_check":
            self.places.ask_place_check()
        elif step == "alarm_type":
            self.ask_type("type_still_needed" if self.burst_added else "ask_type")
        elif step == "location":
            self.ctx.say("ask_location")
            self.ctx.offer_cancel()
        elif step == "confirm":
            self.show_summary()

    def ask_type(self, name: str = "ask_type") -> None:
        ctx = self.ctx
        types = ctx.settings.alarm_type_list
        ctx.say(name, choices="\n".join(f"{number}. {alarm_type}" for number, alarm_type in enumerate(types, 1)))
        for number, alarm_type in enumerate(types, 1):
            ctx.offer(choices.type_choice(number), alarm_type)
        if ctx.pending.get("analysis_failed") == "error":
            ctx.offer("retry", ctx.t("choice_retry"))
        ctx.offer_cancel()

    def take_location(self) -> None:
        ctx = self.ctx
        loc = ctx.incoming.location
        for waiting in ("proposed_place", "site_choices", "shared_location"):  # a new place answers those questions
            ctx.pending.pop(waiting, None)
        if loc is not None:
            ctx.pending["location"] = {"label": loc.label, "latitude": loc.latitude, "longitude": loc.longitude}
            if loc.latitude is not None:
                ctx.pending["location"]["datum"] = datum_of(ctx.incoming.platform)
        else:
            ctx.pending["location"] = {"label": ctx.intent.arg[:MAX_LABEL_CHARS]}
            self.places.sites.land_typed(ctx.pending["location"])

    def chosen_type(self) -> str | None:
        """The alarm type the user's answer names (a list number, the name, an alias, or a part of one name)."""
        return alarm_types.named_type(self.ctx.intent.arg, self.ctx.settings.alarm_type_list)

    def take_type(self) -> None:
        chosen = self.chosen_type()
        assert chosen is not None  # the transition's condition
        self.ctx.pending.update(alarm_type=chosen, type_chosen=True)
        self.ctx.pending.pop("analysis_failed", None)
        self.ctx.say("type_set", alarm_type=chosen)

    def say_type_unknown(self) -> None:
        self.ask_type("type_unknown")

    def say_nothing_to_retry(self) -> None:
        self.ctx.say("nothing_to_retry")

    def say_need_type(self) -> None:
        self.ask_type("need_type")

    def remember_alarm(self) -> None:
        ctx = self.ctx
        ctx.pending["alarm_id"] = ctx.intent.arg
        ctx.say("alarm_linked" if ctx.session.state == IDLE else "alarm_linked_pending", alarm_id=ctx.intent.arg)

    # -- the reporter's own words, and their voice --------------------------------------------------------
    def take_note(self) -> None:
        ctx, intent = self.ctx, self.ctx.intent
        words = first_clause(intent.arg)[1] if intent.name == "place_and_note" else intent.arg
        earlier = ctx.pending.get("note") or ""
        ctx.pending["note"] = (f"{earlier}；{words}" if earlier else words)[:MAX_NOTE_CHARS]
        ctx.say("note_added")

    def keep_voice(self) -> None:
        """Store a voice note of the report (its audio goes on the order, playable on the admin page)."""
        ctx = self.ctx
        key = keep_audio(ctx.incoming.voice, ctx.services, ctx.session.key)
        if key is None:
            return
        ctx.pending.setdefault("voice_keys", []).append(key)
        ctx.user_entry["voice_key"] = key

    # -- summary and confirm --------------------------------------------------------------------------------
    def show_summary(self) -> None:
        """The report as it stands, only the fields that have values, with Confirm / Cancel."""
        ctx, p = self.ctx, self.ctx.pending
        fields = [
            ("summary_type", p.get("alarm_type")),
            ("summary_severity", ctx.t(f"severity_{p['severity']}") if p.get("severity") else ""),
            ("summary_description", p.get("description")),
            ("summary_location", self.places.sites.shown(p.get("location"))),
            ("summary_note", p.get("note")),
            ("summary_alarm", p.get("alarm_id")),
        ]
        lines = "\n".join(ctx.t(name, value=value) for name, value in fields if value)
        same = self._same_order()
        if same is None:
            p.pop("same_as", None)
            ctx.say("summary", fields=lines)
            self.offer_confirm()
            return
        p["same_as"] = same.id
        ctx.say("summary_same", fields=lines)
        place = ctx.place(same) or ctx.t("place_unknown")
        ctx.say(
            "same_problem", order_id=same.id, place=place, ago=ctx.ago(same.created_at), photos=len(same.photo_keys)
        )
        ctx.offer("same", ctx.t("choice_same"), "primary")
        ctx.offer("confirm", ctx.t("choice_new_order"))
        ctx.offer_cancel()

    def _same_order(self) -> Order | None:
        ctx, p = self.ctx, self.ctx.pending
        if not p.get("alarm_type"):
            return None
        home = ctx.reporter().home
        return rules.find_same(
            ctx.services.orders, ctx.settings, home, p["alarm_type"], p.get("location") or {}, p.get("photo_hash")
        )

    def has_same_order(self) -> bool:
        return bool(self.ctx.pending.get("same_as"))

    def join_order(self) -> None:
        """ "Same — add my photo": the photos and the reporter go onto the open order; nothing new is made."""
        ctx = self.ctx
        order_id = ctx.pending["same_as"]
        photos = [key for key, _ in self.photos.of_report()]
        try:
            self.joined = ctx.services.orders.add_report(order_id, ctx.reporter(), photos)
        except OrderError:  # closed, cancelled (or gone) since the summary
            ctx.pending.pop("same_as", None)
            ctx.say("same_gone", order_id=order_id)
            self.offer_confirm()
            raise ctx.refused() from None
        except ServiceError:
            raise ctx.refuse("orders", "orders_down") from None

    def announce_joined(self) -> None:
        assert self.joined is not None
        self.ctx.order_id = self.joined.id
        self.ctx.discarded += self.ctx.pending.get("voice_keys") or []  # the joined order keeps photos, not voices
        self.ctx.session.clear_pending()
        self.ctx.say("joined_order", order_id=self.joined.id)

    def offer_confirm(self) -> None:
        self.ctx.offer_confirm()

    def create_order(self) -> None:
        ctx, p = self.ctx, self.ctx.pending
        location = p.get("location") or {}
        # The same report confirmed twice (a redelivery, a double tap) makes one order.
        report_key = hashlib.sha256(f"{ctx.session.key}|{p['image_key']}".encode()).hexdigest()[:40]
        history = [*ctx.session.history, {"role": "user", "at": round(time.time(), 3), **ctx.user_entry}]
        new = NewOrder(
            report_key=report_key,
            reporter=ctx.reporter(),
            alarm_type=p["alarm_type"],
            description=p.get("description") or "",
            severity=p.get("severity") or "medium",
            location_text=location.get("label") or "",
            latitude=location.get("latitude"),
            longitude=location.get("longitude"),
            report_photo_key=p["image_key"],
            more_photo_keys=tuple(key for key, _ in self.photos.of_report()[1:]),
            alarm_id=p.get("alarm_id"),
            history=history,
            photo_hash=p.get("photo_hash"),
            note=p.get("note") or "",
            voice_keys=tuple(p.get("voice_keys") or ()),
            site=site_place(location),
            coord_datum=location.get("datum"),
        )
        try:
            self.created, _ = ctx.services.orders.create(new)
        except ServiceError:
            log.warning("work-order create failed", extra={"session": ctx.session.key})
            raise ctx.refuse("orders", "orders_down") from None
        # ``order.created`` was written with the order, in its transaction (bot.adapters.sql.outbox)

    def announce_order(self) -> None:
        assert self.created is not None
        self.ctx.order_id = self.created.id
        self.ctx.session.clear_pending()
        self.ctx.say("order_created", order_id=self.created.id, created=self.ctx.when(self.created.created_at))
