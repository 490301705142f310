"""``Job``: one platform message as the webhook hands it on to be run after the ack (JSON in the turn stream)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields
from typing import Any

import orjson

from bot.messages import MAX_TEXT, Incoming, Kind, Location, session_key, storable

KINDS: tuple[str, ...] = Kind.__args__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Job:
    """A message to handle after the ack; ``images`` are the platform's references to its photos.

    A tap is ``kind="action"`` with the choice id in ``action`` and, in ``card``, the platform's reference to
    the message it was on (to close its buttons once the turn has run). In a group chat, ``addressed`` says the
    bot was mentioned (or ``mentions`` lists who was, when only the platform's module can tell whether that is
    the bot: ``PlatformModule.addressed``) and ``thread`` is the message's thread. ``sent_at`` is when the
    webhook took it (a burst of photos is one report). ``foreign_tap``: a tap on a card meant for someone else.
    A voice note (``kind="voice"``) carries the platform's reference to its audio in ``voice``, the platform's
    own transcript where it sends one (WeCom's ``Recognition``: nothing to download) and the length it declares.
    """

    platform: str
    tenant: str
    user: str
    kind: Kind
    event_id: str = ""
    text: str = ""
    location: Location | None = None
    images: tuple[dict[str, Any], ...] = ()
    chat: str = ""
    reply_to: str = ""
    action: str = ""
    card: dict[str, Any] | None = None
    group: bool = False
    addressed: bool = True
    thread: str = ""
    mentions: tuple[str, ...] = ()
    sent_at: float = field(default_factory=time.time)
    foreign_tap: bool = False
    voice: dict[str, Any] | None = None
    transcript: str = ""
    voice_seconds: float | None = None

    @property
    def session_key(self) -> str:
        """The session its turn runs in (as ``incoming().session_key``, without building the message)."""
        return session_key(self.platform, self.tenant, self.user, self.chat if self.group else "")

    def incoming(self, addressed: bool | None = None) -> Incoming:
        """The job's message; ``addressed`` (a platform's look at its ``mentions``) overrides the job's own."""
        return Incoming(
            platform=self.platform,
            tenant=self.tenant,
            user=self.user,
            kind=self.kind,
            text=storable(self.text),
            location=_location(self.location) if self.location else None,
            event_id=self.event_id or None,
            chat=self.chat,
            reply_to=self.reply_to,
            action=self.action,
            group=self.group,
            addressed=self.addressed if addressed is None else addressed,
            thread=self.thread,
            sent_at=self.sent_at,
            transcript=storable(self.transcript) or None,
            voice_seconds=self.voice_seconds,
        )

    def to_json(self) -> bytes:
        return orjson.dumps(self)

    @classmethod
    def from_json(cls, raw: bytes | str) -> Job:
        """A job as the turn stream keeps it (``ValueError`` when it is not one), also as versions before this one
        wrote it: a plain object with one ``image`` instead of ``images``."""
        data = orjson.loads(raw)
        if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in ("platform", "user", "kind")):
            raise ValueError("a job names its platform, user and kind")
        if data["kind"] not in KINDS:
            raise ValueError(f"a job of an unknown kind {data['kind']!r}")
        if data.get("image") and not data.get("images"):
            data["images"] = [data["image"]]
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known and v is not None}
        loc, card, sent_at = values.get("location"), values.get("card"), values.get("sent_at")
        voice, seconds = values.get("voice"), values.get("voice_seconds")
        values.update(
            tenant=str(values.get("tenant") or ""),
            location=_location(loc) if isinstance(loc, dict) else None,
            images=tuple(i for i in values.get("images", ()) if isinstance(i, dict)),
            card=card if isinstance(card, dict) else None,
            mentions=tuple(m for m in values.get("mentions", ()) if isinstance(m, str)),
            sent_at=float(sent_at) if isinstance(sent_at, int | float) else time.time(),
            voice=voice if isinstance(voice, dict) else None,
            transcript=str(values.get("transcript") or ""),
            voice_seconds=float(seconds)
            if isinstance(seconds, int | float) and not isinstance(seconds, bool)
            else None,
        )
        return cls(**values)


def _location(loc: dict[str, Any] | Location) -> Location:
    """A location whose label is storable (a lone surrogate from a platform cannot break the session's save)."""
    if isinstance(loc, Location):
        return Location(storable(loc.label), loc.latitude, loc.longitude)
    return Location(storable(str(loc.get("label") or "")), loc.get("latitude"), loc.get("longitude"))


def make_job(
    platform: str,
    *,
    tenant: str,
    user: str,
    kind: Kind,
    event_id: str,
    text: str = "",
    location: Location | None = None,
    images: list[dict[str, Any]] | None = None,
    chat: str = "",
    reply_to: str = "",
    action: str = "",
    card: dict[str, Any] | None = None,
    group: bool = False,
    addressed: bool = True,
    thread: str = "",
    mentions: list[str] | None = None,
    voice: dict[str, Any] | None = None,
    transcript: str = "",
    voice_seconds: float | None = None,
) -> Job:
    """The job of one message a platform's ``parse`` read (its text cut to what a message may hold)."""
    return Job(
        platform,
        tenant,
        user,
        kind,
        event_id,
        text[:MAX_TEXT],
        location,
        tuple(images or ()),
        chat,
        reply_to,
        action,
        card,
        group,
        addressed,
        thread,
        tuple(mentions or ()),
        voice=voice,
        transcript=transcript[:MAX_TEXT],
        voice_seconds=voice_seconds,
    )
