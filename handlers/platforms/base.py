"""What every platform module shares: the parse outcomes, the job a message becomes, small parse helpers, the
shape of a platform module (``PlatformModule``) and what it is given to work with (``PlatformContext``).

Nothing here imports Flask or the runner: ``handlers.web.webhooks`` serves a module's ``parse`` and
``handlers.runner.turns`` runs its jobs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from bot.messages import Location, coordinate
from handlers.platforms import safe_json
from handlers.platforms.http_client import DownloadError
from handlers.platforms.job import Job
from handlers.platforms.tokens import TokenError

if TYPE_CHECKING:
    from bot.adapters.redis.store import SessionStore
    from bot.config import Settings
    from bot.dialogue.engine import FetchImage, FetchVoice, Services
    from bot.messages import Sender, TurnResult
    from bot.orders.duty_card import DutyCard
    from handlers.platforms.outbound import RetryPolicy

log = logging.getLogger(__name__)


class PlatformContext(Protocol):
    """What a platform module works with (the runner's ``Runtime`` is one): settings, the store its tokens are
    cached in, the ports (stored photos), and how its replies are retried."""

    settings: Settings
    store: SessionStore
    services: Services

    def reply_policy(self, platform: str) -> RetryPolicy: ...


@dataclass(frozen=True)
class WebhookRequest:
    """What a platform's ``parse`` may read of an HTTP request: nothing Flask-specific."""

    method: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Ack:
    """How a platform wants a processed callback answered."""

    body: str = ""
    content_type: str = "text/plain"


class Rejected(Exception):
    """The request is refused: ``status`` 400/401/403/413 and a one-line reason without secrets."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Handshake:
    """Answer the platform's URL check with exactly this body."""

    body: str
    content_type: str = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class Ignored:
    """A valid request we do not act on (bot/self messages, edits, joins, events); ``answer`` replaces the
    usual ack (Feishu's toast for a tap on someone else's card)."""

    reason: str
    answer: Ack | None = None


@dataclass(frozen=True)
class Accepted:
    """A user message to handle after the ack. ``dedupe`` lists the platform ids a redelivery repeats;
    ``answer`` replaces the platform's usual ack (Feishu answers a card tap with a toast)."""

    job: Job
    dedupe: tuple[str, ...] = field(default=())
    answer: Ack | None = None


Outcome = Handshake | Ignored | Accepted


def shared_location(latitude: Any, longitude: Any, label: str) -> Location:
    """A location a user shared: its coordinates when both are sane, else its label alone (at most 200
    characters); ``Rejected`` (400) when it has neither."""
    lat, lng = coordinate(latitude, 90), coordinate(longitude, 180)
    if lat is None or lng is None:
        if not label:
            raise Rejected(400, "location message without usable coordinates")
        return Location(label[:200])
    return Location(label[:200], lat, lng)


def fresh(timestamp: str, window_seconds: int, now: float | None = None) -> bool:
    """Is a signed timestamp (unix seconds) within ``window_seconds`` of now?

    WeCom and Feishu document no replay window, and Feishu retries for up to ~7 h, so the
    window is the dedupe TTL (24 h by default): a replay is either remembered as seen or
    refused as stale, and a genuine retry is never refused.
    """
    try:
        moment = int(timestamp)
    except (TypeError, ValueError):
        return False
    return abs((time.time() if now is None else now) - moment) <= window_seconds


def json_object(raw: bytes | str, what: str = "body") -> dict[str, Any]:
    """A platform's JSON object, depth-checked and with every string storable; ``Rejected`` (400) if not."""
    try:
        return safe_json.loads_object(raw, what)
    except safe_json.BadJson as exc:
        raise Rejected(400, str(exc)) from None


def string(data: dict[str, Any], key: str) -> str:
    """``data[key]`` when it is a string, else "" (a missing field and a list where text belongs look alike)."""
    value = data.get(key)
    return value if isinstance(value, str) else ""


def photo_fetcher(platform: str, job: Job, download: Callable[[dict[str, Any]], bytes]) -> FetchImage:
    """The engine's ``fetch_image`` for a job: each of its photo refs downloaded; a failed download
    becomes a problem the user is told about, and the others still arrive."""

    def fetch() -> tuple[list[bytes], str | None]:
        images: list[bytes] = []
        problem: str | None = None
        for ref in job.images or []:
            try:
                images.append(download(ref))
            except (DownloadError, TokenError) as exc:
                log.warning(
                    "%s photo not downloaded: %s",
                    platform,
                    exc,
                    extra={"platform": platform, "event_id": job.event_id},
                )
                problem = problem or (exc.problem if isinstance(exc, DownloadError) else "download_failed")
        return images, problem

    return fetch


def voice_fetcher(
    platform: str, job: Job, max_seconds: float, download: Callable[[dict[str, Any]], bytes]
) -> FetchVoice:
    """The engine's ``fetch_voice`` for a job: its voice note downloaded (``download`` caps the size); a failed
    download becomes a problem the user is told about. A note the platform says is longer than ``max_seconds``
    is not downloaded: the engine refuses it by the job's ``voice_seconds``."""

    def fetch() -> tuple[bytes | None, str | None]:
        if job.voice is None or (job.voice_seconds is not None and job.voice_seconds > max_seconds):
            return None, None
        try:
            return download(job.voice), None
        except (DownloadError, TokenError) as exc:
            log.warning(
                "%s voice note not downloaded: %s",
                platform,
                exc,
                extra={"platform": platform, "event_id": job.event_id},
            )
            return None, exc.problem if isinstance(exc, DownloadError) else "download_failed"

    return fetch


def declared_seconds(milliseconds: Any) -> float | None:
    """A platform's ``duration`` in milliseconds as seconds; None when it sends none, or nonsense."""
    if isinstance(milliseconds, bool) or not isinstance(milliseconds, int | float) or not 0 < milliseconds < 1e9:
        return None
    return round(milliseconds / 1000, 3)


class PlatformModule(Protocol):
    PLATFORM: str  # the first part of its session keys and its route: /webhook/<PLATFORM>
    METHODS: tuple[str, ...]  # HTTP methods its route answers
    ACK: Ack  # the body a processed callback is answered with

    def enabled(self, settings: Settings) -> bool:
        """Are its settings complete? Off platforms have no route (404)."""
        ...

    def parse(self, settings: Settings, request: WebhookRequest) -> Outcome:
        """verify → handshake → decrypt → drop non-user events → job; raises ``Rejected``."""
        ...

    def sender(self, runtime: PlatformContext) -> Sender:
        """The Sender that answers a turn through the platform's API."""
        ...

    def fetch_image(self, runtime: PlatformContext, job: Job) -> FetchImage:
        """Downloads the job's photo when called: (bytes, None) or (None, problem)."""
        ...

    def notify(self, runtime: PlatformContext, tenant: str, user: str, text: str) -> bool:
        """A message from ops outside any turn; True if delivered."""
        ...

    def photo_arrived(self, runtime: PlatformContext, job: Job) -> None:
        """Tell the user at once that their photo arrived and is being analysed (a reaction or a short text)."""
        ...

    def fetch_voice(self, runtime: PlatformContext, job: Job) -> FetchVoice:
        """Downloads the job's voice note when called, capped at ``MAX_VOICE_BYTES``: (bytes, None) or
        (None, problem)."""
        ...

    def voice_arrived(self, runtime: PlatformContext, job: Job) -> None:
        """Tell the user at once that their voice note arrived and is being transcribed (as ``photo_arrived``)."""
        ...

    def addressed(self, runtime: PlatformContext, job: Job) -> bool:
        """In a group: do the job's ``mentions`` include this app's bot? (Asked only when there are some.)"""
        ...

    def tell_tapper(self, runtime: PlatformContext, job: Job) -> None:
        """Tell only the tapper that the card they tapped was someone else's (a job with ``foreign_tap``)."""
        ...

    def close_card(self, runtime: PlatformContext, job: Job, result: TurnResult) -> None:
        """Redraw the tapped card without its buttons: the choice taken (``result.picked``), or "no longer open"."""
        ...

    def post_card(self, runtime: PlatformContext, tenant: str, address: str, card: DutyCard) -> dict[str, Any]:
        """Post an order's duty card to ``address`` (``chat:<id>``, or on WeCom ``users:<id>|<id>``); return
        what ``update_card`` needs to redraw it. Raises ``outbound.SendFailed``."""
        ...

    def update_card(self, runtime: PlatformContext, ref: dict[str, Any], card: DutyCard) -> None:
        """Redraw a posted duty card as the order is now (claimed, closed…). Raises ``outbound.SendFailed``."""
        ...
