"""What every flow of a turn shares: the turn's inputs, its replies, and small helpers."""

from __future__ import annotations

import functools
import logging
from datetime import UTC, datetime
from typing import Any

from bot.dialogue import choices, intents
from bot.dialogue.machine import IDLE
from bot.dialogue.services import Services, forget_photo
from bot.images import ImageRejected, check_image, upright
from bot.messages import Incoming, Location
from bot.ports import Order, Reporter, ServiceError
from bot.replies import say
from bot.session import Session

log = logging.getLogger(__name__)


# A report photo read back from storage: (bytes, content type, storage key).
StoredPhoto = tuple[bytes, str, str]


class Refused(Exception):
    """A transition's work could not be done; the user has been told why and the state stays as it was."""


class Abandoned(Exception):
    """The order being closed was closed or cancelled meanwhile: the close flow ends."""


class TurnBase:
    """One message's worth of work: the inputs, the replies collected, and the helpers flows share."""

    def __init__(self, services: Services, session: Session, incoming: Incoming) -> None:
        self.services = services
        self.settings = services.settings
        self.lang = self.settings.language
        self.session = session
        self.pending = session.pending
        self.incoming = incoming
        self.state = session.state  # the machine's model attribute: the state while a transition runs
        self.replies: list[str] = []
        self.offered: list[choices.Offered] = []  # the buttons of this turn's question
        self.picked: str | None = None  # the label of the button this turn's tap took
        self.card: str | None = None  # the text of the message that button was on
        self.stale = False  # this turn's tap was on a choice no longer open
        self.follow_up: str | None = None  # a trigger to fire after this one (a held photo's next use)
        self.user_entry: dict[str, Any] = {"text": incoming.text, "kind": incoming.kind}
        self.intent = self._intent()
        if incoming.location:
            self.user_entry["location"] = incoming.location.describe()
        self.order_id: str | None = None  # set on the turn that created or closed an order
        self.errors: list[str] = []  # failures the user was told about, for the observer
        self.discarded: list[str] = []  # report photos no order will hold: deleted once the turn is saved
        self.state_before = session.state

    def _intent(self) -> intents.Intent:
        """What the message asks for. A tap means what its choice means, while that choice is open; a
        bare number in idle picks from the list the bot just showed."""
        incoming, offer = self.incoming, self.session.offer
        if incoming.kind == "action":
            picked = choices.taken(offer, incoming.action)
            intent = choices.intent_of(picked[0]) if picked else None
            if picked is None or intent is None:
                self.stale = True
                self.user_entry["text"] = "[button no longer open]"
                return intents.Intent("stale_choice")
            self.picked = self.user_entry["text"] = picked[1]
            self.card = offer["text"] if offer else None
            return intent
        if incoming.kind != "text":
            return intents.Intent(incoming.kind)
        intent = intents.parse(incoming.text)
        if intent.name == "number" and self.session.state == IDLE:
            listed = choices.numbered(offer, int(intent.arg))
            chosen = choices.intent_of(listed[0]) if listed else None
            return chosen or intent
        return intent

    # -- replies -------------------------------------------------------------------------------------
    def say(self, name: str, **values: object) -> None:
        self.replies.append(say(self.lang, name, **values))

    def offer(self, what: str, label: str, style: choices.Style = "") -> None:
        """A button for this turn's question; the text already says how to type the same choice."""
        self.offered.append((what, label, style))

    def offer_cancel(self) -> None:
        self.offer("cancel", self.t("choice_cancel"), "danger")

    def repeat_offer(self) -> None:
        """Ask the open question again, with the same buttons (they stay valid)."""
        offer = self.session.offer
        if offer:
            self.replies.append(offer["text"])
            self.offered = [(what, label, style) for what, label, style in offer["choices"]]

    def t(self, name: str, **values: object) -> str:
        return say(self.lang, name, **values)

    def fail(self, kind: str, name: str, **values: object) -> None:
        """Tell the user about a failed service in one sentence, and count it."""
        self.errors.append(kind)
        self.say(name, **values)

    def refuse(self, kind: str, name: str, **values: object) -> Refused:
        """``raise self.refuse(…)``: tell the user about a failed service, count it, leave the state as it was."""
        self.fail(kind, name, **values)
        return Refused(name)

    @staticmethod
    def refused() -> Refused:
        """``raise self.refused()`` after saying why: the state stays as it was."""
        return Refused()

    # -- inputs --------------------------------------------------------------------------------------
    @functools.cached_property
    def _photos(self) -> tuple[list[tuple[bytes, str]], str | None]:
        """This message's usable photos as they are kept (HEIC as JPEG, turned upright: ``images.upright``),
        and why one was not usable (the first reason)."""
        incoming = self.incoming
        problem = incoming.image_problem
        usable: list[tuple[bytes, str]] = []
        for data in ([incoming.image] if incoming.image is not None else []) + list(incoming.more_images):
            try:
                usable.append(upright(data, check_image(data, self.settings.max_image_bytes)))
            except ImageRejected as exc:
                problem = problem or exc.reason
        return usable, problem if usable or problem else "empty"

    def photo_problem(self) -> str | None:
        """Why this message has no usable photo ("too_large", "not_image"…), or None when it has one."""
        usable, problem = self._photos
        return None if usable else problem

    def accepted_photos(self) -> list[tuple[bytes, str]]:
        """The message's usable photos' bytes and types; after ``photo_problem`` said None."""
        return self._photos[0]

    def accepted_photo(self) -> tuple[bytes, str]:
        return self.accepted_photos()[0]

    def photos_left_out(self) -> int:
        """How many of the message's photos could not be used (told, not silently lost)."""
        sent = (self.incoming.image is not None) + len(self.incoming.more_images)
        return max(0, sent - len(self._photos[0]))

    def say_photo_problem(self) -> None:
        problem = self.photo_problem() or "not_image"
        self.errors.append(f"image_{problem}")
        if problem == "too_large":
            self.say("image_too_large", limit_mb=round(self.settings.max_image_bytes / 1024 / 1024, 1))
        elif problem in ("not_image", "empty"):
            self.say("not_image")
        else:
            self.say("download_failed")

    def held_photo_key(self) -> str | None:
        key = self.pending.get("image_key")
        return key if self.state_before == IDLE and self.incoming.kind != "image" and key else None

    def held_photos(self) -> list[StoredPhoto]:
        """The photos kept in idle since "a new report, or the fix for …?", when this message brings none.
        They are used from storage, never uploaded twice."""
        return self.stored_photos() if self.held_photo_key() else []

    def held_photo(self) -> StoredPhoto | None:
        """The first photo held (the one a close checks), read from storage alone."""
        if not self.held_photo_key():
            return None
        key, kind = self.pending_photos()[0]
        return self._read_photo(key), kind, key

    def pending_photos(self) -> list[tuple[str, str]]:
        """(key, type) of the report's photos, the first one first."""
        first = self.pending.get("image_key")
        if not first:
            return []
        more = [(str(k), str(t)) for k, t in self.pending.get("more_photos") or []]
        return [(first, self.pending.get("image_type") or "image/jpeg"), *more]

    def stored_photos(self) -> list[StoredPhoto]:
        """The report's photos read back from storage: (bytes, type, key)."""
        return [(self._read_photo(key), kind, key) for key, kind in self.pending_photos()]

    def _read_photo(self, key: str) -> bytes:
        try:
            return self.services.storage.get(key)
        except (KeyError, ServiceError):
            log.warning("report photo unreadable", extra={"session": self.session.key})
            raise self.refuse("storage", "storage_down") from None

    def set_pending_photos(self, photos: list[StoredPhoto], sent_at: float) -> None:
        (_, first_type, first_key), more = photos[0], photos[1:]
        self.pending.update(image_key=first_key, image_type=first_type, photo_at=sent_at)
        if more:
            self.pending["more_photos"] = [[key, kind] for _, kind, key in more]

    def discard_report_photo(self) -> None:
        """The pending report photos will never belong to an order (replaced, or the report dropped)."""
        self.discard_photos([key for key, _ in self.pending_photos()])

    def discard_photos(self, keys: list[str]) -> None:
        """Photos no order will hold: deleted once the turn is saved, their history entries unlinked."""
        for key in keys:
            self.discarded.append(key)
            forget_photo(self.session, key)

    def reporter(self) -> Reporter:
        i = self.incoming
        return Reporter(i.platform, i.tenant, i.user)

    # -- helpers -------------------------------------------------------------------------------------
    def photo_url(self, key: str) -> str | None:
        """A URL the VLM may fetch the photo from, when ``VLM_IMAGE_MODE=url``."""
        if self.settings.vlm_image_mode != "url":
            return None
        try:
            return self.services.storage.url(key)
        except ServiceError:
            return None

    def type_choices(self) -> str:
        return "\n".join(f"{i}. {name}" for i, name in enumerate(self.settings.alarm_type_list, 1))

    def offer_types(self) -> None:
        for number, name in enumerate(self.settings.alarm_type_list, 1):
            self.offer(choices.type_choice(number), name)

    def order_lines(self, orders: list[Order], *, numbered: bool = False) -> str:
        """One line per order (id · type · place · reported at); ``numbered`` puts "1. " in front, for a list
        the user picks from by number. An order without a place has no empty slot for it."""
        return "\n".join(
            (f"{n}. " if numbered else "")
            + " · ".join(part for part in (o.id, o.alarm_type, o.location_text, self.when(o.created_at)) if part)
            for n, o in enumerate(orders, 1)
        )

    def when(self, moment: datetime) -> str:
        """A time as users read it: in ``TIMEZONE`` (stored times are UTC)."""
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(self.settings.zone).strftime("%Y-%m-%d %H:%M")

    @staticmethod
    def location_text(location: dict[str, Any] | None) -> str:
        """A pending location as the user reads it (``Location.describe``)."""
        if not location:
            return ""
        return Location(location.get("label") or "", location.get("latitude"), location.get("longitude")).describe()
