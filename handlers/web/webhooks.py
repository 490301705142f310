"""``/webhook/<platform>``: size cap → the platform's ``parse`` → intake (dedupe, hand-off) → ack at once.

No download, no engine call and no outbound request happens before the answer is sent.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from flask import Blueprint, Response, request

from bot.adapters.redis.turn_stream import QueueFull, Taken
from bot.ports import StoreUnavailable
from handlers.metrics import observer_of
from handlers.platforms.base import Accepted, Handshake, Ignored, PlatformModule, Rejected, WebhookRequest

if TYPE_CHECKING:
    from handlers.runner.runtime import Runtime

log = logging.getLogger(__name__)


def blueprint(runtime: Runtime, module: PlatformModule) -> Blueprint:
    """``/webhook/<platform>``: the request handed to ``module.parse`` as a ``WebhookRequest``."""
    platform = module.PLATFORM
    bp = Blueprint(platform, __name__)

    def webhook() -> Response:
        return respond(runtime, module)

    bp.add_url_rule(f"/webhook/{platform}", "webhook", webhook, methods=list(module.METHODS))
    return bp


def respond(runtime: Runtime, module: PlatformModule) -> Response:
    """Run one webhook request through parse → dedupe → hand-off and answer at once."""
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
        marked_at = time.monotonic()
        try:
            taken = runtime.take(platform, idents, outcome.job)
        except StoreUnavailable as exc:
            log.warning("%s webhook: store unavailable: %s", platform, exc, extra={"platform": platform})
            return _text(503, "store unavailable, retry later", retry_after="5")
        except QueueFull as exc:  # a flood: the marks were taken back, the platform retries later
            log.warning("%s webhook: %s; answered 503", platform, exc, extra={"platform": platform})
            return _text(503, "busy, retry later", retry_after="5")
        if taken is Taken.SEEN:
            # DEBUG: a platform redelivers whenever an ack is slow, and each one would be a line; they are counted.
            if (observer := observer_of(runtime)) is not None:
                observer.redelivery(platform)
            log.debug(
                "%s redelivery acknowledged and dropped",
                platform,
                extra={"platform": platform, "event_id": outcome.job.event_id},
            )
        elif taken is Taken.MARKED:
            try:
                runtime.hand_on(platform, outcome.job)
            except QueueFull as exc:  # a flood: the platform retries later, memory stays bounded
                log.warning("%s webhook: %s; answered 503", platform, exc, extra={"platform": platform})
                _unmark(runtime, platform, outcome.dedupe)
                return _text(503, "busy, retry later", retry_after="5")
            except Exception:
                # Not handed on (Redis failed mid-way…): forget the marks, so the platform's
                # retry of this event is processed rather than dropped as a duplicate.
                log.exception("%s webhook: could not hand the turn on", platform, extra={"platform": platform})
                _unmark(runtime, platform, outcome.dedupe)
                return _text(503, "cannot take the message now, retry later", retry_after="5")
            runtime.recent_marks.remember(platform, idents, marked_at)  # handed on: this mark stays
    elif isinstance(outcome, Ignored):
        log.debug("%s event ignored: %s", platform, outcome.reason, extra={"platform": platform})
    ack = outcome.answer or module.ACK
    return Response(ack.body, status=200, content_type=ack.content_type)


def _unmark(runtime: Runtime, platform: str, idents: tuple[str, ...]) -> None:
    for ident in idents:
        if ident:
            try:
                runtime.store.unmark(platform, ident)
            except StoreUnavailable:
                log.warning("%s webhook: mark not taken back; the retry will be dropped", platform)


def _text(status: int, reason: str, retry_after: str | None = None) -> Response:
    resp = Response(reason, status=status, content_type="text/plain; charset=utf-8")
    if retry_after:
        resp.headers["Retry-After"] = retry_after
    return resp
