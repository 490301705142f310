"""The domain's ports: small interfaces the engine talks to, and their value types.

Their adapters live in ``bot/adapters/`` (``vlm.py``, ``storage.py``, ``sql/orders.py``, ``redis/sessions.py``),
each with a ``build_…(settings)`` that the runner's bootstrap calls. A turn's storage ports are in
``bot.turn_storage``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

Severity = Literal["low", "medium", "high"]
OrderStatus = Literal["open", "closed", "cancelled"]
ORDER_STATUSES: tuple[OrderStatus, ...] = ("open", "closed", "cancelled")


class ServiceError(Exception):
    """A backing service failed in a way the user should hear about in one sentence."""


class VlmError(ServiceError):
    """The VLM timed out, answered an HTTP error, or said something we cannot use."""


class NluError(ServiceError):
    """The language model for free text timed out, failed, or answered something we cannot use."""


class SttError(ServiceError):
    """The speech-to-text service timed out, failed, or answered something we cannot use."""


class VoiceRejected(Exception):
    """A voice note that is not sent to the speech-to-text service: ``reason`` is "too_long" (over
    ``MAX_VOICE_SECONDS``) or "unsupported" (SILK, or bytes no decoder reads)."""

    def __init__(self, reason: str, seconds: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.seconds = seconds


class StoreUnavailable(ServiceError):
    """Redis (or the session backend) cannot be reached; the edge answers 503."""


class OrderError(ServiceError):
    """A work-order operation is not allowed (unknown id, already closed…)."""


class OrderNotFound(OrderError):
    """No order has that id (in the asker's tenant: other tenants' orders do not exist for them)."""


class OrderMoved(OrderError):
    """A move the order refuses as it is now: ``problem`` is "state" (not from there) or "who" (not theirs)."""

    def __init__(self, order: Order, problem: str) -> None:
        super().__init__(f"{order.id}: {problem} ({order.life})")
        self.order, self.problem = order, problem


@dataclass(frozen=True)
class Photo:
    """A photo as the VLM adapter needs it: bytes, their type, and an optional fetchable URL."""

    data: bytes = field(repr=False)
    content_type: str
    url: str | None = None


@dataclass(frozen=True)
class Analysis:
    alarm_type: str
    description: str
    severity: Severity
    confidence: float


@dataclass(frozen=True)
class Verdict:
    resolved: bool
    reason: str


class Vlm(Protocol):
    def analyze(self, photos: Sequence[Photo], alarm_types: tuple[str, ...], history: list[dict[str, Any]]) -> Analysis:
        """Describe the problem the photos (one report, one request) show. Raises VlmError.
        ``alarm_type`` is one of ``alarm_types``."""
        ...

    def verify_fixed(
        self, before: Sequence[Photo], after: Photo, description: str, history: list[dict[str, Any]]
    ) -> Verdict:
        """Is the problem seen in the report photos ``before`` resolved in ``after``? Raises VlmError."""
        ...


@dataclass(frozen=True)
class Reading:
    """What the language model made of a text the keyword rules could not place.

    ``intent`` is one of the intents it was offered, or ``"unsure"``; the slots hold what that intent
    needs: ``place`` (the words that say where), ``alarm_type`` (one of the offered types, exactly),
    ``order_ref`` (an order id, its last five characters, or a list number).
    """

    intent: str
    place: str = ""
    alarm_type: str = ""
    order_ref: str = ""


UNSURE = Reading("unsure")
ORDER_INTENTS = frozenset({"order_query", "close", "withdraw"})  # a reading of these needs its ``order_ref``


class Nlu(Protocol):
    def read(self, text: str, intents: Mapping[str, str], alarm_types: Sequence[str]) -> Reading:
        """Classify ``text`` (already folded) among ``intents`` (name → what it means, in English).
        The answer is validated: an intent not offered, a type not listed or a slot its intent needs
        missing gives ``UNSURE``. Raises NluError when the model is slow, down or unreadable."""
        ...


@dataclass(frozen=True)
class Transcript:
    text: str
    seconds: float  # the note's length, as decoded


class Stt(Protocol):
    def transcribe(self, audio: bytes, *, language: str, prompt: str) -> Transcript:
        """The words of a voice note. The adapter sniffs the container from the bytes, converts what the
        service does not take (AMR to WAV), and names the file by its real type. Raises VoiceRejected
        ("too_long", "unsupported") before any call, SttError when the service is slow, down or unreadable."""
        ...


class ObjectStore(Protocol):
    def put(self, data: bytes, content_type: str) -> str:
        """Store bytes under a new unguessable key and return the key."""
        ...

    def get(self, key: str) -> bytes:
        """Raise KeyError if the key is unknown."""
        ...

    def url(self, key: str, expires_seconds: int = 600) -> str | None:
        """A short-lived URL that fetches the object, or None if this store cannot make one."""
        ...

    def delete(self, key: str) -> None:
        """Forget the object; nothing happens when it is already gone. KeyError for a key of a wrong shape."""
        ...


@dataclass(frozen=True)
class Tenant:
    """Whose orders these are: a WeCom corp, a Feishu tenant or a Slack team on one platform."""

    platform: str
    tenant: str


@dataclass(frozen=True)
class Reporter:
    """A person on a platform: who reported, closed or cancelled an order."""

    platform: str
    tenant: str
    user: str

    @property
    def home(self) -> Tenant:
        return Tenant(self.platform, self.tenant)


@dataclass(frozen=True)
class SitePlace:
    """The registry site an order's place landed on (``bot.sites``): its id, name and zone, and where the place
    came from: "matched" (typed words, or picked among close ones), "qr" (a tag in the photo), "snapped" (a shared
    location near it)."""

    id: str
    name: str
    zone: str = ""
    source: str = "matched"


@dataclass(frozen=True)
class NewOrder:
    report_key: str  # idempotency key derived from the pending report
    reporter: Reporter
    alarm_type: str
    description: str
    severity: str
    location_text: str
    latitude: float | None
    longitude: float | None
    report_photo_key: str
    alarm_id: str | None
    history: list[dict[str, Any]]
    more_photo_keys: tuple[str, ...] = ()  # the report's other photos (a burst, or one message with several)
    photo_hash: str | None = None  # the first photo's perceptual hash (hex): a repeat report is spotted by it
    note: str = ""  # the reporter's own words that were no place, command or choice (a voice note's, say)
    voice_keys: tuple[str, ...] = ()  # the report's voice notes in storage
    site: SitePlace | None = None  # the registry site the place landed on (bot.sites), and how
    coord_datum: str | None = None  # wgs84 | gcj02: the datum of latitude/longitude as sent


@dataclass(frozen=True)
class Order:
    id: str
    status: OrderStatus
    alarm_type: str
    description: str
    severity: str
    location_text: str
    latitude: float | None
    longitude: float | None
    report_photo_key: str
    close_photo_key: str | None
    vlm_resolved: bool | None
    vlm_reason: str | None
    reporter: Reporter
    alarm_id: str | None
    created_at: datetime
    closed_at: datetime | None
    history: list[dict[str, Any]]
    cancel_reason: str | None = None
    closed_by: Reporter | None = None
    cancelled_by: Reporter | None = None
    more_photo_keys: tuple[str, ...] = ()
    assignee: Reporter | None = None  # who claimed it from the duty chat
    claimed_at: datetime | None = None
    escalations: int = 0  # times it was posted again to the duty chat as overdue
    escalated_at: datetime | None = None
    more_reporters: tuple[Reporter, ...] = ()  # people who reported the same problem ("Same — add my photo")
    photo_hash: str | None = None
    note: str = ""  # the reporter's note (NewOrder.note)
    voice_keys: tuple[str, ...] = ()
    site: SitePlace | None = None
    coord_datum: str | None = None
    stage: str | None = None  # bot.orders.life: claimed, in_progress, on_hold, resolved; None: open or (old) claimed
    started_at: datetime | None = None
    hold_reason: str | None = None
    on_hold_since: datetime | None = None
    held_seconds: float = 0.0
    resolved_at: datetime | None = None
    auto_confirmed: bool = False
    reopen_count: int = 0
    rating: int | None = None

    @property
    def life(self) -> str:  # open, claimed, in_progress, on_hold, resolved, closed or cancelled
        return self.stage or ("claimed" if self.assignee else "open") if self.status == "open" else self.status

    @property
    def photo_keys(self) -> tuple[str, ...]:
        """Every report photo, the first one first."""
        return (self.report_photo_key, *self.more_photo_keys)

    @property
    def reporters(self) -> tuple[Reporter, ...]:
        """Everyone who reported it, the first reporter first."""
        return (self.reporter, *self.more_reporters)


class WorkOrders(Protocol):
    def create(self, new: NewOrder) -> tuple[Order, bool]:
        """Create the order, or return the one already made for ``new.report_key``; bool = created now."""
        ...

    def get(self, order_id: str, scope: Tenant | None = None) -> Order | None:
        """The order, or None; with ``scope``, orders of any other tenant are None too."""
        ...

    def close(self, order_id: str, close_photo_key: str, resolved: bool | None, reason: str, by: Reporter) -> Order:
        """Close an open order of ``by``'s tenant, recording ``closed_by``.

        Raises OrderNotFound (also for another tenant's order), or OrderError if it is not open.
        """
        ...

    def cancel(self, order_id: str, reason: str, by: Reporter, scope: Tenant | None = None) -> Order:
        """Cancel an open order, recording ``cancelled_by``; with ``scope``, only an order of that tenant.

        Raises OrderNotFound, or OrderError if it is not open.
        """
        ...

    def open_for(self, reporter: Reporter, limit: int = 10) -> list[Order]: ...

    def movable_by(self, who: Reporter, limit: int = 50) -> list[Order]:
        """The orders a move typed without its order ("开始", "评分 5") may mean, ``who``'s own first (reported or
        held), then newest first: their tenant's open orders they reported or someone holds, and those they reported
        that closed in the last week without a rating. Which of them a move may take is ``bot.orders.life``'s."""
        ...

    def claim(self, order_id: str, by: Reporter) -> tuple[Order, bool]:
        """Make ``by`` the assignee of an open, unclaimed order of their tenant; bool = this call won.

        Exactly one of any number of concurrent claims wins (the others get the order with its
        assignee). Raises OrderNotFound, or OrderError if it is not open.
        """
        ...

    def add_report(self, order_id: str, by: Reporter, photo_keys: Sequence[str]) -> Order:
        """Attach another report of the same problem: its photos and its reporter. Raises OrderNotFound,
        or OrderError if it is not open."""
        ...

    def ending_with(self, home: Tenant, suffix: str, limit: int = 3) -> list[Order]:
        """Orders of a tenant whose id ends with ``suffix`` (what "查工单 7KQ2M" names), newest first."""
        ...

    def open_like(self, home: Tenant, alarm_type: str, limit: int = 50) -> list[Order]:
        """Open orders of a tenant with this alarm type, newest first (duplicate candidates)."""
        ...

    def overdue(self, older_than: datetime, max_escalations: int) -> list[Order]:
        """Open, unclaimed orders escalated fewer than ``max_escalations`` times whose last posting
        (creation or escalation) is before ``older_than``."""
        ...

    def mark_escalated(self, order_id: str, seen: int) -> Order | None:
        """Count one more escalation if the order still shows ``seen`` and is open and unclaimed; None when
        another process escalated it first (or it was claimed or finished meanwhile)."""
        ...

    def move(
        self, order_id: str, action: str, by: Reporter | None, guard: Callable[[Order], str], params: Mapping[str, Any]
    ) -> Order:
        """A step of bot.orders.life.RULES if ``guard`` passes (""): one update and its timeline row. OrderMoved."""

    def timeline(self, order_id: str) -> list[dict[str, Any]]:
        """The order's timeline rows, oldest first (``order_timeline``'s columns; ``at`` aware UTC)."""

    def resolved_before(self, moment: datetime, limit: int = 100) -> list[Order]:
        """Open orders resolved before ``moment`` that the reporter has not answered (auto-confirm's)."""

    def export(
        self,
        status: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        tenant: str | None = None,
        site: str | None = None,
        zone: str | None = None,
    ) -> Iterator[Order]:
        """Every matching order, oldest first, read in batches (never all at once); ``site``/``zone``: only orders
        on that registry site or in that zone."""
        ...

    def list(
        self, status: str | None = None, q: str | None = None, cursor: str | None = None, limit: int = 50
    ) -> tuple[list[Order], str | None]:
        """Newest first; returns (page, next cursor or None)."""
        ...

    def counts(self) -> dict[str, int]:
        """{"open": n, "closed": n, "cancelled": n}"""
        ...

    def ping(self) -> None:
        """Raise if the database is unreachable."""
        ...
