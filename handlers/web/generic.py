"""``POST /webhook/generic``: JSON in, JSON out, synchronous — for custom integrations and trying the bot.

Request: ``user_id`` (1–128 chars), ``tenant`` (default "default"), optional ``message_id``
(a repeat returns the first answer), and exactly one of ``text``, ``image_base64``,
``location`` {latitude, longitude, label} and ``action`` (the ``id`` of a button the bot offered).
Response: the turn's replies and state, and ``actions`` [{id, label}]: the buttons of its question.
A tap on a button no longer open is answered 200 with a reply that says so, never an error.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import re
from typing import Any

from flask import Blueprint, jsonify, request

from bot.messages import MAX_TEXT, Incoming, Location, TurnResult, coordinate, is_storable
from bot.replies import say
from handlers.platforms import safe_json
from handlers.runner.runtime import Runtime

log = logging.getLogger(__name__)

PLATFORM_NAME = "generic"  # not a discovered platform: it answers synchronously
_ID = re.compile(r"^[^\x00-\x1f:]{1,128}$")  # ':' is the session key separator
_DATA_URL = re.compile(r"^data:[\w/+.-]+;base64,", re.I)


class BadRequest(ValueError):
    """The body is not a valid generic message; the text says which field."""


def parse(body: Any, max_image_bytes: int) -> Incoming:
    """Validate a decoded JSON body and turn it into an Incoming (pure: no Flask)."""
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    user_id = _ident(body, "user_id", required=True)
    tenant = _ident(body, "tenant", required=False) or "default"
    message_id = body.get("message_id")
    if message_id is not None:
        if isinstance(message_id, bool) or not isinstance(message_id, (str, int)) or not str(message_id).strip():
            raise BadRequest("message_id must be a non-empty string")
        message_id = _unicode(str(message_id).strip(), "message_id")
        if len(message_id) > 128:
            raise BadRequest("message_id must be at most 128 characters")
    given = [k for k in ("text", "image_base64", "location", "action") if body.get(k) is not None]
    if len(given) != 1:
        raise BadRequest("send exactly one of text, image_base64, location, action")
    common: dict[str, Any] = {"platform": PLATFORM_NAME, "tenant": tenant, "user": user_id, "event_id": message_id}
    kind = given[0]
    if kind == "text":
        text = body["text"]
        if not isinstance(text, str) or not text.strip():
            raise BadRequest("text must be a non-empty string")
        if len(text) > MAX_TEXT:
            raise BadRequest(f"text must be at most {MAX_TEXT} characters")
        return Incoming(kind="text", text=_unicode(text, "text"), **common)
    if kind == "action":
        action = body["action"]
        if not isinstance(action, str) or not action.strip() or len(action) > 256:
            raise BadRequest("action must be the id of a button from an earlier answer's actions")
        return Incoming(kind="action", action=_unicode(action.strip(), "action"), **common)
    if kind == "image_base64":
        return Incoming(kind="image", image=_image(body["image_base64"], max_image_bytes), **common)
    return Incoming(kind="location", location=_location(body["location"]), **common)


class ImageTooLarge(BadRequest):
    pass


def _ident(body: dict, name: str, *, required: bool) -> str:
    value = body.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not _ID.match(value.strip() or ""):
        raise BadRequest(f"{name} must be a string of 1 to 128 characters without ':' or control characters")
    return _unicode(value.strip(), name)


def _unicode(value: str, name: str) -> str:
    """Refuse a lone surrogate (JSON lets "\\ud800" through): it cannot be stored as UTF-8 anywhere later."""
    if not is_storable(value):
        raise BadRequest(f"{name} is not valid Unicode text")
    return value


def _image(value: Any, max_bytes: int) -> bytes:
    if not isinstance(value, str):
        raise BadRequest("image_base64 must be a base64 string")
    if not value.strip():
        raise BadRequest("image_base64 is empty")
    value = _DATA_URL.sub("", value.strip(), count=1)
    # Base64 is 4/3 of the bytes: refuse an oversized image before decoding it.
    if len(value) * 3 // 4 > max_bytes + 3:
        raise ImageTooLarge(f"image is larger than {max_bytes} bytes")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("image_base64 is not valid base64") from None
    if len(data) > max_bytes:
        raise ImageTooLarge(f"image is larger than {max_bytes} bytes")
    return data


def _location(value: Any) -> Location:
    if not isinstance(value, dict):
        raise BadRequest("location must be an object with latitude, longitude and label")
    lat, lng = _coordinate(value, "latitude", 90), _coordinate(value, "longitude", 180)
    label = value.get("label", "")
    if not isinstance(label, str) or len(label) > 200:
        raise BadRequest("location.label must be a string of at most 200 characters")
    return Location(label=_unicode(label.strip(), "location.label"), latitude=lat, longitude=lng)


def _coordinate(value: dict[str, Any], name: str, limit: float) -> float:
    number = coordinate(value.get(name), limit)
    if number is None:
        raise BadRequest(f"location.{name} must be a number between -{limit:g} and {limit:g}")
    return number


def answer(result: TurnResult) -> dict[str, Any]:
    """The response body: the replies, the buttons on offer, the state and the question it asked."""
    return {
        "replies": [reply.text for reply in result.replies],
        "actions": [{"id": choice.id, "label": choice.label} for choice in result.choices],
        "state": result.state,
        "waiting_for": result.waiting_for,
        "session": result.session,
        "order_id": result.order_id,
    }


def blueprint(runtime: Runtime) -> Blueprint:
    bp = Blueprint("generic", __name__)
    settings = runtime.settings

    @bp.post("/webhook/generic")
    def webhook() -> Any:
        token = settings.generic_webhook_token
        if token:
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                return jsonify(error="missing or wrong bearer token"), 401
        try:
            # not mended: a lone surrogate in a field is refused by ``parse`` with the field's name
            incoming = parse(safe_json.loads(request.get_data(cache=False)), settings.max_image_bytes)
        except ImageTooLarge as exc:
            limit_mb = round(settings.max_image_bytes / 1024 / 1024, 1)
            return jsonify(error=str(exc), replies=[say(settings.language, "image_too_large", limit_mb=limit_mb)]), 413
        except (BadRequest, safe_json.BadJson) as exc:
            log.warning("generic webhook refused (400): %s", exc)
            return jsonify(error=str(exc)), 400
        result: TurnResult = runtime.engine.handle(incoming)
        return jsonify(answer(result))

    return bp
