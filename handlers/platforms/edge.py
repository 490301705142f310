"""What every platform webhook shares: parse outcomes, the Flask route, job ↔ Incoming, the turn.

Each platform module has a pure ``parse(settings, request)`` that returns one of
``Handshake``, ``Ignored`` or ``Accepted`` (a JSON-able job) or raises ``Rejected``.
``blueprint`` serves it at ``/webhook/<platform>``: size check, parse, dedupe of the
platform's event ids, dispatch to the background, and an immediate answer. No download,
no engine call and no outbound request happens before the answer is sent. ``run_turn``
is the background half: the engine runs (the photo fetched under the user's lock) and
the platform's Sender delivers the replies.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, request

from bot.messages import MAX_TEXT, Incoming, Location, TurnResult, coordinate, session_key, storable
from bot.ports import StoreUnavailable
from handlers import safe_json
from handlers.metrics import observer_of
from handlers.platforms.http_client import DownloadError
from handlers.platforms.tokens import TokenError
from handlers.turn_queue import QueueFull, Taken

if TYPE_CHECKING:
    from bot.conversation import FetchImage
    from handlers.platforms import PlatformModule
    from handlers.runtime import Runtime

log = logging.getLogger(__name__)


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

    job: dict[str, Any]
    dedupe: tuple[str, ...] = field(default=())
    answer: Ack | None = None


Outcome = Handshake | Ignored | Accepted


def make_job(
    platform: str,
    *,
    tenant: str,
    user: str,
    kind: str,
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
) -> dict[str, Any]:
    """The background job for one message: plain JSON, so RQ can carry it; ``images`` are platform refs.

    A tap is ``kind="action"`` with the choice id in ``action`` and, in ``card``, the platform's
    reference to the message it was on (to close its buttons once the turn has run). In a group
    chat, ``addressed`` says the bot was mentioned (or ``mentions`` lists who was, when only the
    platform's module can tell whether that is the bot: ``PlatformModule.addressed``) and ``thread`` is
    the message's thread. ``sent_at`` is when the webhook took it (a burst of photos is one report).
    """
    return {
        "platform": platform,
        "tenant": tenant,
        "user": user,
        "kind": kind,
        "text": text[:MAX_TEXT],
        "location": (
            {"label": location.label, "latitude": location.latitude, "longitude": location.longitude}
            if location
            else None
        ),
        "images": images or [],
        "event_id": event_id,
        "chat": chat,
        "reply_to": reply_to,
        "action": action,
        "card": card,
        "group": group,
        "addressed": addressed,
        "thread": thread,
        "mentions": mentions or [],
        "sent_at": time.time(),
    }


def session_of(job: Mapping[str, Any]) -> str:
    """The session a job's turn is in (as its ``incoming_from_job(job).session_key``, without building the
    message); "" for a job that names no user."""
    if not (job.get("platform") and job.get("tenant") is not None and job.get("user")):
        return ""
    return session_key(job["platform"], job["tenant"], job["user"], (job.get("chat") or "") if job.get("group") else "")


def incoming_from_job(
    job: Mapping[str, Any], image: bytes | None = None, image_problem: str | None = None, addressed: bool | None = None
) -> Incoming:
    """The job's message; ``addressed`` (a platform's look at its ``mentions``) overrides the job's own."""
    loc = job.get("location")
    sent_at = job.get("sent_at")
    return Incoming(
        platform=job["platform"],
        tenant=job["tenant"],
        user=job["user"],
        kind=job["kind"],
        text=storable(job.get("text") or ""),
        image=image,
        image_problem=image_problem,
        location=(
            Location(storable(loc.get("label") or ""), loc.get("latitude"), loc.get("longitude")) if loc else None
        ),
        event_id=job.get("event_id") or None,
        chat=job.get("chat") or "",
        reply_to=job.get("reply_to") or "",
        action=job.get("action") or "",
        group=bool(job.get("group")),
        addressed=job.get("addressed", True) is not False if addressed is None else addressed,
        thread=job.get("thread") or "",
        sent_at=float(sent_at) if isinstance(sent_at, int | float) else time.time(),
        queued=True,
    )


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


def blueprint(runtime: Runtime, module: PlatformModule) -> Blueprint:
    """``/webhook/<platform>``: the request handed to ``module.parse`` as a ``WebhookRequest``."""
    platform = module.PLATFORM
    bp = Blueprint(platform, __name__)

    def webhook() -> Response:
        return respond(runtime, module)

    bp.add_url_rule(f"/webhook/{platform}", "webhook", webhook, methods=list(module.METHODS))
    return bp


def respond(runtime: Runtime, module: PlatformModule) -> Response:
    """Run one webhook request through parse → dedupe → dispatch and answer at once."""
    settings, platform = runtime.settings, module.PLATFORM
    length = request.content_length
    if length is not None and length > settings.max_body_bytes:
        return _text(413, "body too large")
    body = request.get_data(cache=False)
    if len(body) > settings.max_body_bytes:
        return _text(413, "body too large")
    webhook_request = WebhookRequest(request.method, body, dict(request.headers), request.args.to_dict())
    try:
        outcome = module.parse(settings, webhook_request)
    except Rejected as exc:
        log.warning("%s webhook refused (%d): %s", platform, exc.status, exc.reason, extra={"platform": platform})
        return _text(exc.status, exc.reason)
    except Exception as exc:
        # One line, no traceback: whoever sends a body that finds such a bug must not be able to flood the log.
        log.error(
            "%s webhook could not be parsed (a parser bug): %s: %.200s",
            platform,
            type(exc).__name__,
            exc,
            extra={"platform": platform},
        )
        return _text(400, "malformed request")
    if isinstance(outcome, Handshake):
        return Response(outcome.body, status=200, content_type=outcome.content_type)
    if isinstance(outcome, Accepted):
        idents = tuple(ident for ident in outcome.dedupe if ident)
        claimed_at = time.monotonic()
        try:
            taken = runtime.take(platform, idents, outcome.job)
        except StoreUnavailable as exc:
            log.warning("%s webhook: store unavailable: %s", platform, exc, extra={"platform": platform})
            return _text(503, "store unavailable, retry later", retry_after="5")
        except QueueFull as exc:  # a flood: the claims were given back, the platform retries later
            log.warning("%s webhook: %s; answered 503", platform, exc, extra={"platform": platform})
            return _text(503, "busy, retry later", retry_after="5")
        if taken is Taken.SEEN:
            # DEBUG: a platform redelivers whenever an ack is slow, and each one would be a line; they are counted.
            if (observer := observer_of(runtime)) is not None:
                observer.redelivery(platform)
            log.debug(
                "%s redelivery acknowledged and dropped",
                platform,
                extra={"platform": platform, "event_id": outcome.job.get("event_id")},
            )
        elif taken is Taken.CLAIMED:
            try:
                runtime.dispatch(platform, outcome.job)
            except QueueFull as exc:  # a flood: the platform retries later, memory stays bounded
                log.warning("%s webhook: %s; answered 503", platform, exc, extra={"platform": platform})
                _release(runtime, platform, outcome.dedupe)
                return _text(503, "busy, retry later", retry_after="5")
            except Exception:
                # Not handed on (the RQ queue is unreachable…): forget the claims, so the platform's
                # retry of this event is processed rather than dropped as a duplicate.
                log.exception("%s webhook: could not hand the turn on", platform, extra={"platform": platform})
                _release(runtime, platform, outcome.dedupe)
                return _text(503, "cannot take the message now, retry later", retry_after="5")
            runtime.recent_claims.remember(platform, idents, claimed_at)  # handed on: this claim stays
    elif isinstance(outcome, Ignored):
        log.debug("%s event ignored: %s", platform, outcome.reason, extra={"platform": platform})
    ack = outcome.answer or module.ACK
    return Response(ack.body, status=200, content_type=ack.content_type)


def run_turn(runtime: Runtime, module: PlatformModule, job: dict[str, Any]) -> None:
    """After the ack: run the turn (the photo is fetched under the user's lock) and send its replies before the lock
    is given up.

    A photo the VLM will look at is acknowledged first (a reaction, or a short text), so the user
    knows it arrived even when the analysis takes a while. A tap's card is closed afterwards: its
    buttons give way to the choice taken, or to "no longer open".
    """
    if job.get("image") and not job.get("images"):  # a job queued by the version before several photos
        job = {**job, "images": [job["image"]]}
    if job.get("foreign_tap"):  # a tap on a card meant for someone else: only they are told
        _quietly(module.tell_tapper, runtime, job)
        return
    from handlers.duty import claim_tap  # here: handlers.duty imports the platform package, which imports us

    if claim_tap(runtime, module, job):  # Claim on a duty card: about the order, not the tapper's conversation
        return
    incoming = incoming_from_job(job, addressed=module.addressed(runtime, job) if job.get("mentions") else None)
    fetch_image = _announced(runtime, module, job) if job.get("images") else None

    def deliver(result: TurnResult) -> None:
        """Sent while the turn holds the user's lock, so a burst's answers arrive in the order it was sent."""
        if job.get("card") and (result.picked or result.stale):
            _quietly(module.close_card, runtime, job, result)
        module.sender(runtime).send(replace(incoming, reply_to=result.thread or incoming.reply_to), result.replies)

    result = runtime.engine.handle(incoming, fetch_image=fetch_image, deliver=deliver)
    event_id = incoming.event_id
    # A re-run of a turn taken over after a crash: the engine kept the answer; send it unless it was sent.
    if result.duplicate and event_id and runtime.store.settle_result(incoming.session_key, event_id):
        deliver(result)


def _announced(runtime: Runtime, module: PlatformModule, job: dict[str, Any]) -> FetchImage:
    """The job's photo download, which first tells the user their photo arrived when the VLM will look
    at it. It runs only for a turn that goes ahead (never for group chatter the bot ignores)."""
    fetch = module.fetch_image(runtime, job)

    def announced() -> tuple[list[bytes], str | None]:
        if runtime.services.vlm is not None:
            _quietly(module.photo_arrived, runtime, job)
        return fetch()

    return announced


def _quietly(call: Callable[..., None], runtime: Runtime, job: dict[str, Any], *args: Any) -> None:
    """A courtesy call (a reaction, a card's buttons greyed out): its failure is logged, the turn goes on."""
    try:
        call(runtime, job, *args)
    except Exception as exc:
        log.warning("%s: %s failed (%s)", job.get("platform"), call.__name__, type(exc).__name__)


def photo_fetcher(platform: str, job: dict[str, Any], download: Callable[[dict[str, Any]], bytes]) -> FetchImage:
    """The engine's ``fetch_image`` for a job: each of its photo refs downloaded; a failed download
    becomes a problem the user is told about, and the others still arrive."""

    def fetch() -> tuple[list[bytes], str | None]:
        images: list[bytes] = []
        problem: str | None = None
        for ref in job.get("images") or []:
            try:
                images.append(download(ref))
            except (DownloadError, TokenError) as exc:
                log.warning(
                    "%s photo not downloaded: %s",
                    platform,
                    exc,
                    extra={"platform": platform, "event_id": job.get("event_id")},
                )
                problem = problem or (exc.problem if isinstance(exc, DownloadError) else "download_failed")
        return images, problem

    return fetch


def _release(runtime: Runtime, platform: str, idents: tuple[str, ...]) -> None:
    for ident in idents:
        if ident:
            try:
                runtime.store.release(platform, ident)
            except StoreUnavailable:
                log.warning("%s webhook: claim not released; the retry will be dropped", platform)


def _text(status: int, reason: str, retry_after: str | None = None) -> Response:
    resp = Response(reason, status=status, content_type="text/plain; charset=utf-8")
    if retry_after:
        resp.headers["Retry-After"] = retry_after
    return resp
