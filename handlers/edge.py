"""What the three platform webhooks share: parse outcomes, the Flask boundary, job ↔ Incoming.

Each platform module has a pure ``parse(settings, method, body, headers, query)`` that
returns one of ``Handshake``, ``Ignored`` or ``Accepted`` (a JSON-able job) or raises
``Rejected``. ``respond`` wraps it for Flask: size check, dedupe of the platform's
event ids, dispatch to the background, and an immediate answer. No download, no
engine call and no outbound request happens before the answer is sent.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Response, request

from bot.messages import Incoming, Location
from bot.ports import StoreUnavailable
from handlers.runtime import Runtime

log = logging.getLogger(__name__)

MAX_TEXT = 4000  # characters handed to the engine; longer messages are cut


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
    """A valid request we do not act on (bot/self messages, edits, joins, events)."""

    reason: str


@dataclass(frozen=True)
class Accepted:
    """A user message to handle after the ack. ``dedupe`` lists the platform ids a redelivery repeats."""

    job: dict[str, Any]
    dedupe: tuple[str, ...] = field(default=())


Outcome = Handshake | Ignored | Accepted
Parse = Callable[[], Outcome]


def make_job(
    platform: str,
    *,
    tenant: str,
    user: str,
    kind: str,
    event_id: str,
    text: str = "",
    location: Location | None = None,
    image: dict[str, Any] | None = None,
    chat: str = "",
    reply_to: str = "",
) -> dict[str, Any]:
    """The background job for one message: plain JSON, so RQ can carry it; ``image`` is a platform ref."""
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
        "image": image,
        "event_id": event_id,
        "chat": chat,
        "reply_to": reply_to,
    }


def incoming_from_job(job: Mapping[str, Any], image: bytes | None = None, image_problem: str | None = None) -> Incoming:
    loc = job.get("location")
    return Incoming(
        platform=job["platform"],
        tenant=job["tenant"],
        user=job["user"],
        kind=job["kind"],
        text=_valid_unicode(job.get("text") or ""),
        image=image,
        image_problem=image_problem,
        location=(
            Location(_valid_unicode(loc.get("label") or ""), loc.get("latitude"), loc.get("longitude")) if loc else None
        ),
        event_id=job.get("event_id") or None,
        chat=job.get("chat") or "",
        reply_to=job.get("reply_to") or "",
    )


def _valid_unicode(text: str) -> str:
    """JSON lets a lone surrogate ("\\ud800") through; it could not be stored as UTF-8 later, so it becomes '?'."""
    return text.encode("utf-8", "replace").decode("utf-8")


def coordinate(raw: Any, limit: float) -> float | None:
    """A latitude/longitude from a platform string or number, or None if it is not a sane one."""
    try:
        value = float(raw) if raw is not None and not isinstance(raw, bool) else math.nan
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) and abs(value) <= limit else None


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


def respond(
    runtime: Runtime, platform: str, parse: Callable[[bytes], Outcome], ack: Callable[[], Response] | None = None
) -> Response:
    """Run one webhook request through parse → dedupe → dispatch and answer at once."""
    settings = runtime.settings
    length = request.content_length
    if length is not None and length > settings.max_body_bytes:
        return _text(413, "body too large")
    body = request.get_data(cache=False)
    if len(body) > settings.max_body_bytes:
        return _text(413, "body too large")
    try:
        outcome = parse(body)
    except Rejected as exc:
        log.warning("%s webhook refused (%d): %s", platform, exc.status, exc.reason, extra={"platform": platform})
        return _text(exc.status, exc.reason)
    except Exception:  # a bug in parsing must not become a 5xx that the platform retries forever
        log.exception("%s webhook could not be parsed", platform, extra={"platform": platform})
        return _text(400, "malformed request")
    if isinstance(outcome, Handshake):
        return Response(outcome.body, status=200, content_type=outcome.content_type)
    if isinstance(outcome, Accepted):
        try:
            first_time = all(
                [runtime.store.claim(platform, ident, settings.dedupe_ttl_seconds) for ident in outcome.dedupe if ident]
            )
        except StoreUnavailable as exc:
            log.warning("%s webhook: store unavailable: %s", platform, exc, extra={"platform": platform})
            return _text(503, "store unavailable, retry later", retry_after="5")
        if not first_time:
            log.info(
                "%s redelivery acknowledged and dropped",
                platform,
                extra={"platform": platform, "event_id": outcome.job.get("event_id")},
            )
        else:
            try:
                runtime.dispatch(platform, outcome.job)
            except Exception:
                # Not handed on (the RQ queue is unreachable…): forget the claims, so the platform's
                # retry of this event is processed rather than dropped as a duplicate.
                log.exception("%s webhook: could not hand the turn on", platform, extra={"platform": platform})
                _release(runtime, platform, outcome.dedupe)
                return _text(503, "cannot take the message now, retry later", retry_after="5")
    elif isinstance(outcome, Ignored):
        log.debug("%s event ignored: %s", platform, outcome.reason, extra={"platform": platform})
    return ack() if ack else Response(b"", status=200, content_type="text/plain")


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
