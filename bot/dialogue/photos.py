"""``TurnPhotos``: a turn's photos — the message's, the report's in storage, those no order will hold."""

from __future__ import annotations

import functools
import logging

from bot.dialogue.context import TurnContext
from bot.dialogue.machine import IDLE
from bot.dialogue.services import forget_photo
from bot.images import ImageRejected, check_image, upright
from bot.ports import ServiceError

log = logging.getLogger(__name__)


# A report photo read back from storage: (bytes, content type, storage key).
StoredPhoto = tuple[bytes, str, str]


class TurnPhotos:
    """The photos of one turn, for the report and the close flows alike.

    The report's photos are kept in the session's pending fields (``image_key``, ``image_type``,
    ``more_photos``, ``photo_at``) from the moment they are stored until an order holds them or they
    are discarded.
    """

    def __init__(self, ctx: TurnContext) -> None:
        self.ctx = ctx
        self._read_once: dict[str, bytes] = {}  # a stored photo never changes under its key: read once a turn

    # -- this message's photos -----------------------------------------------------------------------
    @functools.cached_property
    def _usable(self) -> tuple[list[tuple[bytes, str]], str | None]:
        """This message's usable photos as they are kept (HEIC as JPEG, turned upright: ``images.upright``),
        and why one was not usable (the first reason)."""
        incoming = self.ctx.incoming
        problem = incoming.image_problem
        usable: list[tuple[bytes, str]] = []
        for data in ([incoming.image] if incoming.image is not None else []) + list(incoming.more_images):
            try:
                usable.append(upright(data, check_image(data, self.ctx.settings.max_image_bytes)))
            except ImageRejected as exc:
                problem = problem or exc.reason
        return usable, problem if usable or problem else "empty"

    def problem(self) -> str | None:
        """Why this message has no usable photo ("too_large", "not_image"…), or None when it has one."""
        usable, problem = self._usable
        return None if usable else problem

    def accepted(self) -> list[tuple[bytes, str]]:
        """The message's usable photos' bytes and types; after ``problem`` said None."""
        return self._usable[0]

    def first_accepted(self) -> tuple[bytes, str]:
        return self.accepted()[0]

    def left_out(self) -> int:
        """How many of the message's photos could not be used (told, not silently lost)."""
        incoming = self.ctx.incoming
        sent = (incoming.image is not None) + len(incoming.more_images)
        return max(0, sent - len(self._usable[0]))

    def say_problem(self) -> None:
        ctx = self.ctx
        problem = self.problem() or "not_image"
        ctx.errors.append(f"image_{problem}")
        if problem == "too_large":
            ctx.say("image_too_large", limit_mb=round(ctx.settings.max_image_bytes / 1024 / 1024, 1))
        elif problem in ("not_image", "empty"):
            ctx.say("not_image")
        else:
            ctx.say("download_failed")

    def store(self, data: bytes, content_type: str) -> str:
        """Put a photo in storage and return its key; ``Refused`` (the user told) when storage is down."""
        try:
            return self.ctx.services.storage.put(data, content_type)
        except ServiceError:
            log.warning("photo storage failed", extra={"session": self.ctx.session.key})
            raise self.ctx.refuse("storage", "storage_down") from None

    def url(self, key: str) -> str | None:
        """A URL the VLM may fetch the photo from, when ``VLM_IMAGE_MODE=url``."""
        if self.ctx.settings.vlm_image_mode != "url":
            return None
        try:
            return self.ctx.services.storage.url(key)
        except ServiceError:
            return None

    # -- the report's photos, kept in storage --------------------------------------------------------
    def held_key(self) -> str | None:
        """The first photo held in idle, when this message brings none of its own."""
        ctx = self.ctx
        key = ctx.pending.get("image_key")
        return key if ctx.state_before == IDLE and ctx.incoming.kind != "image" and key else None

    def held(self) -> list[StoredPhoto]:
        """The photos kept in idle since "a new report, or the fix for …?", when this message brings none.
        They are used from storage, never uploaded twice."""
        return self.read_report() if self.held_key() else []

    def first_held(self) -> StoredPhoto | None:
        """The first photo held (the one a close checks), read from storage alone."""
        if not self.held_key():
            return None
        key, kind = self.of_report()[0]
        return self._read(key), kind, key

    def of_report(self) -> list[tuple[str, str]]:
        """(key, type) of the report's photos, the first one first."""
        pending = self.ctx.pending
        first = pending.get("image_key")
        if not first:
            return []
        more = [(str(k), str(t)) for k, t in pending.get("more_photos") or []]
        return [(first, pending.get("image_type") or "image/jpeg"), *more]

    def read_report(self) -> list[StoredPhoto]:
        """The report's photos read back from storage: (bytes, type, key)."""
        return [(self._read(key), kind, key) for key, kind in self.of_report()]

    def _read(self, key: str) -> bytes:
        if key in self._read_once:
            return self._read_once[key]
        try:
            data = self._read_once[key] = self.ctx.services.storage.get(key)
            return data
        except (KeyError, ServiceError):
            log.warning("report photo unreadable", extra={"session": self.ctx.session.key})
            raise self.ctx.refuse("storage", "storage_down") from None

    def set_report(self, photos: list[StoredPhoto], sent_at: float) -> None:
        """Make ``photos`` the report's, the first one first."""
        (_, first_type, first_key), more = photos[0], photos[1:]
        pending = self.ctx.pending
        pending.update(image_key=first_key, image_type=first_type, photo_at=sent_at)
        if more:
            pending["more_photos"] = [[key, kind] for _, kind, key in more]

    def discard_report(self) -> None:
        """The pending report photos will never belong to an order (replaced, or the report dropped)."""
        self.discard([key for key, _ in self.of_report()])

    def discard(self, keys: list[str]) -> None:
        """Photos no order will hold: deleted once the turn is saved, their history entries unlinked."""
        for key in keys:
            self.ctx.discarded.append(key)
            forget_photo(self.ctx.session, key)
