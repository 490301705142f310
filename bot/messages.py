"""Platform-neutral values: what comes in from a user, what goes back out."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from bot.dialogue.machine import State

Kind = Literal["text", "image", "location", "other", "action", "video", "voice"]

MAX_TEXT = 4000  # characters of one message handed to the engine


def is_storable(text: str) -> bool:
    """False for text with a lone surrogate ("\\ud800"): JSON lets one through, UTF-8 storage cannot hold it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def storable(text: str) -> str:
    """``text`` with any lone surrogate replaced by '?', so it can be stored as UTF-8."""
    return text if is_storable(text) else text.encode("utf-8", "replace").decode("utf-8")


def coordinate(raw: Any, limit: float) -> float | None:
    """A latitude (``limit`` 90) or longitude (180) from a string or number, or None if it is not a sane one."""
    try:
        value = float(raw) if raw is not None and not isinstance(raw, bool) else math.nan
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) and abs(value) <= limit else None


@dataclass(frozen=True)
class Location:
    label: str = ""
    latitude: float | None = None
    longitude: float | None = None

    def describe(self) -> str:
        if self.latitude is None or self.longitude is None:
            return self.label
        coords = f"{self.latitude:.6f},{self.longitude:.6f}"
        return f"{self.label} ({coords})" if self.label else coords


@dataclass(frozen=True)
class Incoming:
    """One message from one user, as every platform handler hands it to the engine.

    ``image`` holds the photo bytes already downloaded by the edge (size-capped), ``more_images``
    the message's other photos; the engine checks their type and stores them. ``sent_at`` is when
    the platform received it (photos sent close together make one report). ``event_id`` is the
    platform's message/event id, used to process a redelivery only once. ``chat`` and
    ``reply_to`` are opaque addresses the platform's Sender uses to answer. A tap on a
    button is ``kind="action"`` with the ``Choice.id`` it carried in ``action``.

    In a group chat (``group``) the session is the user's in that chat, ``addressed`` says whether
    the message mentions the bot (a message that does not only continues a flow already open), and
    ``thread`` is the platform's thread the message belongs to, where the bot answers.
    """

    platform: str
    tenant: str
    user: str
    kind: Kind
    text: str = ""
    image: bytes | None = field(default=None, repr=False)
    location: Location | None = None
    event_id: str | None = None
    chat: str = ""
    reply_to: str = ""
    # Set by an edge that refused the photo while downloading it ("too_large", "not_image",
    # "download_failed"): the engine answers with the matching sentence instead of analysing.
    image_problem: str | None = None
    action: str = ""
    more_images: tuple[bytes, ...] = field(default=(), repr=False)
    sent_at: float = field(default_factory=time.time)
    group: bool = False
    addressed: bool = True
    thread: str = ""
    # A voice note (``kind="voice"``): its bytes as downloaded under the user's lock (``FetchVoice``), the
    # platform's own transcript where it sends one (WeCom's ``Recognition``), the length the platform says,
    # and the edge's problem with it ("too_large", "download_failed") like ``image_problem``.
    voice: bytes | None = field(default=None, repr=False)
    transcript: str | None = None
    voice_seconds: float | None = None
    voice_problem: str | None = None

    @property
    def session_key(self) -> str:
        return session_key(self.platform, self.tenant, self.user, self.chat if self.group else "")


def session_key(platform: str, tenant: str, user: str, group_chat: str = "") -> str:
    """The one place session keys are built: ``platform:tenant:user`` in a direct chat, and
    ``platform:tenant:user@chat`` in a group chat, so a report in a group and one in a direct chat
    never mix."""
    return f"{platform}:{tenant}:{user}@{group_chat}" if group_chat else f"{platform}:{tenant}:{user}"


def person_key(key: str, group_chat: str) -> str:
    """The direct-chat key of a session's user (``group_chat`` is the session's, "" in a direct chat).

    The chat is kept in the session record rather than parsed back out of the key: a user id may
    itself hold '@' (a generic webhook's e-mail address)."""
    return key.removesuffix(f"@{group_chat}") if group_chat else key


@dataclass(frozen=True)
class Choice:
    """One button of a reply. ``id`` comes back in a tap (``Incoming.action``); ``style`` hints the look."""

    id: str
    label: str
    style: Literal["", "primary", "danger"] = ""


@dataclass(frozen=True)
class Reply:
    """One message back to the user; ``choices`` are its buttons (the text says how to type them too)."""

    text: str
    choices: tuple[Choice, ...] = ()


def one_message(replies: list[Reply]) -> Reply | None:
    """A turn's replies as one platform message (WeCom drops messages over its per-user rate; Slack
    allows one per second per channel): the texts joined, the buttons of the last reply that has some."""
    if not replies:
        return None
    choices = next((r.choices for r in reversed(replies) if r.choices), ())
    return Reply("\n\n".join(r.text for r in replies if r.text), choices)


@dataclass(frozen=True)
class TurnResult:
    """A turn's answer. For a tap: ``picked`` is the label of the choice it took and ``card`` the text of
    the message that carried it (so a platform can redraw that card without its buttons); or ``stale``
    is True when the choice was no longer open."""

    replies: list[Reply]
    state: str
    session: str
    order_id: str | None = None
    duplicate: bool = False
    picked: str | None = None
    card: str | None = None
    stale: bool = False
    thread: str = ""  # in a group: the thread of the message that started the flow, where answers go
    saved: bool = False  # the turn saved the session and its result (not: a duplicate, chatter, a failed turn)
    delivered: bool = False  # the replies were sent by ``handle``'s ``deliver``, under the user's lock
    waiting_for: str | None = None  # the open question (``bot.dialogue.next_step``): "location", "alarm_type"…

    @property
    def choices(self) -> tuple[Choice, ...]:
        return next((r.choices for r in reversed(self.replies) if r.choices), ())

    def to_json(self) -> dict[str, Any]:
        return {
            "replies": [r.text for r in self.replies],
            "actions": [{"id": c.id, "label": c.label, "style": c.style} for c in self.choices],
            "state": self.state,
            "session": self.session,
            "order_id": self.order_id,
            "picked": self.picked,
            "card": self.card,
            "stale": self.stale,
            "thread": self.thread,
            "waiting_for": self.waiting_for,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], *, duplicate: bool = False) -> TurnResult:
        replies = [Reply(t) for t in data.get("replies", [])]
        choices = tuple(Choice(a["id"], a["label"], a.get("style", "")) for a in data.get("actions") or [])
        if replies and choices:
            replies[-1] = Reply(replies[-1].text, choices)
        return cls(
            replies=replies,
            state=data.get("state", State.idle.value),
            session=data.get("session", ""),
            order_id=data.get("order_id"),
            duplicate=duplicate,
            picked=data.get("picked"),
            card=data.get("card"),
            stale=bool(data.get("stale")),
            thread=data.get("thread") or "",
            waiting_for=data.get("waiting_for"),
        )


class Sender(Protocol):
    """Output port: deliver replies for a turn to the user who sent ``incoming``."""

    def send(self, incoming: Incoming, replies: list[Reply]) -> None: ...
