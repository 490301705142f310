"""Feishu ``im.message.receive_v1``: a user's message as a job (pure: no I/O).

Fields as lark-oapi's ``P2ImMessageReceiveV1`` has them: ``event.sender.sender_id.open_id``,
``event.message`` with ``message_id``, ``root_id``, ``chat_id``, ``chat_type`` (``p2p`` or ``group``),
``message_type``, ``content`` (a JSON string) and ``mentions`` (``key`` "@_user_1", ``id.open_id``).
In a group the job lists the open_ids mentioned; whether one is this app's bot is decided in the
background (``feishu.addressed``: its open_id comes from ``GET /open-apis/bot/v3/info``).
Photos: an ``image``, every ``img`` of a ``post`` (a photo with words, or several photos), and a
``file`` (an iPhone's HEIC, a photo sent as a document: its bytes decide). A ``media`` (video) is
answered with a request for a photo. An ``audio`` (a voice note: ``{"file_key", "duration"}`` in ms, Opus in
Ogg) is downloaded as a ``type=file`` resource; it cannot carry a mention, so in a group it only continues a
flow the user has open.
"""

from __future__ import annotations

import re
from typing import Any

from bot.config import Settings
from handlers.platforms.base import (
    Accepted,
    Ignored,
    Outcome,
    Rejected,
    declared_seconds,
    json_object,
    shared_location,
    string,
)
from handlers.platforms.job import make_job

PLATFORM = "feishu"
_MENTION = re.compile(r"@_user_\d+")
_OTHER_KINDS = frozenset(
    {
        "sticker",
        "interactive",
        "share_chat",
        "share_user",
        "merge_forward",
        "todo",
        "folder",
        "hongbao",
        "vote",
        "share_calendar_event",
    }
)


def message(settings: Settings, header: dict[str, Any], event: Any) -> Outcome:
    if not isinstance(event, dict) or not isinstance(event.get("message"), dict):
        raise Rejected(400, "im.message.receive_v1 without event.message")
    sender: dict[str, Any] = event["sender"] if isinstance(event.get("sender"), dict) else {}
    if sender.get("sender_type") != "user":
        return Ignored(f"sender type {sender.get('sender_type')}")
    sender_id: dict[str, Any] = sender["sender_id"] if isinstance(sender.get("sender_id"), dict) else {}
    open_id, tenant = sender_id.get("open_id"), header.get("tenant_key")
    msg = event["message"]
    message_id, chat_id = msg.get("message_id"), msg.get("chat_id")
    if not all(isinstance(v, str) and v for v in (open_id, tenant, message_id)):
        raise Rejected(400, "event lacks sender open_id, tenant_key or message_id")
    kind_raw = string(msg, "message_type")
    content = json_object(string(msg, "content") or "{}", "message.content")
    group = string(msg, "chat_type") == "group"
    mentioned = _mentioned(msg) if group else []
    common: dict[str, Any] = {
        "tenant": tenant,
        "user": open_id,
        "event_id": message_id,
        "chat": chat_id if isinstance(chat_id, str) else "",
        "reply_to": message_id,
        "group": group,
        # in a group, addressed only through a mention of the bot (``feishu.addressed`` reads ``mentions``)
        "addressed": not group,
        "mentions": mentioned,
        "thread": string(msg, "root_id") or message_id,
    }
    limit = settings.max_photos_per_report
    if kind_raw == "text":
        text = _MENTION.sub("", string(content, "text")).strip()
        if not text:
            return Ignored("empty text (a bare mention)")
        job = make_job(PLATFORM, kind="text", text=text, **common)
    elif kind_raw in ("image", "file") and string(content, f"{kind_raw}_key"):
        ref = _ref(message_id, string(content, f"{kind_raw}_key"), kind_raw)
        job = make_job(PLATFORM, kind="image", images=[ref], **common)
    elif kind_raw == "post":
        text, image_keys = _post(content)
        if image_keys:
            refs = [_ref(message_id, key, "image") for key in image_keys[:limit]]
            job = make_job(PLATFORM, kind="image", text=text, images=refs, **common)
        elif text:
            job = make_job(PLATFORM, kind="text", text=text, **common)
        else:
            return Ignored("empty post")
    elif kind_raw == "location":
        where = shared_location(content.get("latitude"), content.get("longitude"), string(content, "name"))
        job = make_job(PLATFORM, kind="location", location=where, **common)
    elif kind_raw == "audio" and string(content, "file_key"):
        ref = _ref(message_id, string(content, "file_key"), "file")
        seconds = declared_seconds(content.get("duration"))
        job = make_job(PLATFORM, kind="voice", voice=ref, voice_seconds=seconds, **common)
    elif kind_raw == "media":
        job = make_job(PLATFORM, kind="video", text="[video]", **common)
    elif kind_raw in _OTHER_KINDS or kind_raw in ("image", "file", "audio"):
        job = make_job(PLATFORM, kind="other", text=f"[{kind_raw}]", **common)
    else:
        return Ignored(f"message type {kind_raw}")
    # The message id alone: a retry repeats the whole event, and a re-push of the message under a new event_id
    # (PLATFORMS.md 2.7) repeats the message id, so one claim catches both, in one record instead of two.
    return Accepted(job, dedupe=(message_id,))


def _mentioned(msg: dict[str, Any]) -> list[str]:
    """The open_ids a group message mentions."""
    mentions = msg.get("mentions")
    found = []
    for mention in mentions if isinstance(mentions, list) else []:
        ident = mention.get("id") if isinstance(mention, dict) else None
        open_id = ident.get("open_id") if isinstance(ident, dict) else None
        if isinstance(open_id, str) and open_id:
            found.append(open_id)
    return found


def _ref(message_id: str, file_key: str, resource: str) -> dict[str, str]:
    """A message resource to download: ``type=image`` for an image, ``type=file`` for a file."""
    return {"message_id": message_id, "file_key": file_key, "type": resource}


def _post(content: dict[str, Any]) -> tuple[str, list[str]]:
    """A rich-text post's text and its image keys (a photo sent with words arrives as a post)."""
    if "content" not in content:  # some payloads nest the post under a locale: {"zh_cn": {...}}
        content = next((v for v in content.values() if isinstance(v, dict) and "content" in v), {})
    texts: list[str] = [string(content, "title")]
    image_keys: list[str] = []
    lines = content.get("content")
    for line in lines if isinstance(lines, list) else []:
        for item in line if isinstance(line, list) else []:
            if not isinstance(item, dict):
                continue
            if item.get("tag") in ("text", "a") and string(item, "text"):
                texts.append(string(item, "text"))
            elif item.get("tag") == "img" and string(item, "image_key"):
                image_keys.append(string(item, "image_key"))
    text = _MENTION.sub("", " ".join(t for t in texts if t)).strip()
    return text, image_keys
