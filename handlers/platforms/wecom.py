"""WeCom (企业微信) self-built app: ``GET|POST /webhook/wecom``.

Inbound: the URL check (echostr decrypted and echoed) and encrypted XML messages,
verified by SHA-1 ``msg_signature``, decrypted with the EncodingAESKey (receive id =
corp id), parsed with defusedxml. Acked with an empty 200 at once; the turn runs in
the background. Outbound: ``message/send`` with the app's agent id, media by
``media/get``, the access token cached in Redis (``wecom_api``, ``handlers.platforms.tokens``).
Session key: ``wecom:<corp id>:<UserID>``.
"""

from __future__ import annotations

import functools
import logging
import xml.etree.ElementTree as ET  # the C parser for plain bodies; anything with a DTD is defusedxml's
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import defusedxml
from defusedxml.ElementTree import fromstring

from bot.config import Settings
from bot.messages import Incoming, Reply, Sender, TurnResult, one_message, session_key
from bot.replies import say
from handlers.platforms import crypto, wecom_cards
from handlers.platforms import http_client as http
from handlers.platforms.base import (
    Accepted,
    Ack,
    Handshake,
    Ignored,
    Outcome,
    Rejected,
    WebhookRequest,
    fresh,
    photo_fetcher,
    shared_location,
    voice_fetcher,
)
from handlers.platforms.duty_media import duty_photos
from handlers.platforms.job import Job, make_job
from handlers.platforms.outbound import Attempt, RetryPolicy, deliver, sent, split_utf8
from handlers.platforms.wecom_api import WeComApi

if TYPE_CHECKING:
    from bot.dialogue.engine import FetchImage, FetchVoice
    from bot.orders.duty_card import DutyCard
    from handlers.platforms.base import PlatformContext

PLATFORM = "wecom"
METHODS: tuple[str, ...] = ("GET", "POST")  # GET is the URL check
ACK = Ack()
log = logging.getLogger(__name__)

MAX_TEXT_BYTES = 2048
_USER_KINDS_WE_DO_NOT_READ = frozenset({"link", "miniprogram", "mixed"})


def enabled(settings: Settings) -> bool:
    present = all(
        (
            settings.wecom_corp_id,
            settings.wecom_agent_id,
            settings.wecom_secret,
            settings.wecom_token,
            settings.wecom_encoding_aes_key,
        )
    )
    if present and not settings.wecom_agent_id.strip().isdigit():
        log.warning("WECOM_AGENT_ID must be a number; WeCom stays off")
        return False
    return present


# --- inbound ------------------------------------------------------------------------------------------------


def parse(settings: Settings, request: WebhookRequest, now: float | None = None) -> Outcome:
    """verify → handshake → decrypt → parse (pure: no Flask, no I/O)."""
    method, body, query = request.method, request.body, request.query
    signature, timestamp, nonce = (query.get(k, "") for k in ("msg_signature", "timestamp", "nonce"))
    if not (signature and timestamp and nonce):
        raise Rejected(401, "msg_signature, timestamp and nonce are required")
    if method == "GET":
        return _url_check(settings, signature, timestamp, nonce, query.get("echostr", ""))
    envelope = _xml(body, "body")
    encrypt = (envelope.findtext("Encrypt") or "").strip()
    if not encrypt:
        raise Rejected(400, "no Encrypt element")
    if not crypto.wecom_check_signature(settings.wecom_token, timestamp, nonce, encrypt, signature):
        raise Rejected(401, "bad msg_signature")
    if not fresh(timestamp, settings.dedupe_ttl_seconds, now):
        raise Rejected(401, "timestamp outside the replay window")
    message = _xml(_decrypt(settings, encrypt), "decrypted message")
    return _message(settings, message)


def _url_check(settings: Settings, signature: str, timestamp: str, nonce: str, echostr: str) -> Handshake:
    if not echostr:
        raise Rejected(400, "echostr is required")
    candidates = [echostr]
    if " " in echostr:  # a '+' that a proxy decoded as a space
        candidates.append(echostr.replace(" ", "+"))
    for candidate in candidates:
        if crypto.wecom_check_signature(settings.wecom_token, timestamp, nonce, candidate, signature):
            return Handshake(_decrypt(settings, candidate).decode("utf-8", "replace"))
    raise Rejected(401, "bad msg_signature")


def _decrypt(settings: Settings, encrypt: str) -> bytes:
    try:
        return crypto.wecom_decrypt(settings.wecom_encoding_aes_key, encrypt, settings.wecom_corp_id)
    except crypto.ReceiverMismatch:
        raise Rejected(403, "message is addressed to another corp") from None
    except crypto.CryptoError as exc:
        raise Rejected(400, f"cannot decrypt: {exc}") from None


def _xml(data: bytes, what: str) -> ET.Element:
    try:
        # expat in C for a body that cannot declare entities: a third of defusedxml's time (its parser is
        # Python); any other goes to defusedxml, which refuses the DTD with its own error.
        root = fromstring(data, forbid_dtd=True) if _may_declare(data) else ET.fromstring(data)  # noqa: S314
    except defusedxml.DefusedXmlException:
        raise Rejected(400, f"{what}: DTDs and entity declarations are refused") from None
    except (ET.ParseError, ValueError) as exc:  # ValueError: an encoding expat cannot read ("utf-16-le")
        raise Rejected(400, f"{what}: malformed XML ({exc})") from None
    if root.tag != "xml":
        raise Rejected(400, f"{what}: root element must be <xml>")
    return root


def _may_declare(data: bytes) -> bool:
    """Could ``data`` carry a DTD (the only way to declare an entity)? Every attack defusedxml stops needs one.

    A declaration is the bytes ``<!DOCTYPE`` in each encoding expat reads from bytes without NULs (UTF-8,
    ASCII, Latin-1), and UTF-16 always has NULs: a body with neither cannot declare anything.
    """
    return b"<!DOCTYPE" in data or b"\x00" in data


def _text(root: ET.Element, name: str) -> str:
    return (root.findtext(name) or "").strip()


def _message(settings: Settings, msg: ET.Element) -> Outcome:
    kind_raw = _text(msg, "MsgType").lower()
    user = _text(msg, "FromUserName")
    if not kind_raw or not user:
        raise Rejected(400, "decrypted message lacks MsgType or FromUserName")
    agent = _text(msg, "AgentID")
    if agent and agent != str(settings.wecom_agent_id).strip():
        return Ignored(f"message for agent {agent}")
    if kind_raw == "event":
        if _text(msg, "Event") == "template_card_event":
            return wecom_cards.tap(settings.wecom_corp_id, user, msg)
        return Ignored(f"event {_text(msg, 'Event') or '?'}")
    msg_id = _text(msg, "MsgId") or f"{user}-{_text(msg, 'CreateTime')}"
    common: dict[str, Any] = {"tenant": settings.wecom_corp_id, "user": user, "event_id": msg_id, "chat": user}
    if kind_raw == "text":
        text = msg.findtext("Content") or ""
        if not text.strip():
            return Ignored("empty text")
        job = make_job(PLATFORM, kind="text", text=text, **common)
    elif kind_raw in ("image", "file"):  # a file may be a photo sent as a document: its bytes decide
        media_id, pic_url = _text(msg, "MediaId"), _text(msg, "PicUrl")
        if not media_id and not pic_url:
            raise Rejected(400, f"{kind_raw} message without MediaId")
        job = make_job(PLATFORM, kind="image", images=[{"media_id": media_id, "pic_url": pic_url}], **common)
    elif kind_raw == "voice":  # 8 kHz AMR-NB by MediaId; a transcript in Recognition where WeCom sends one
        media_id, heard = _text(msg, "MediaId"), _text(msg, "Recognition")
        if not media_id and not heard:
            raise Rejected(400, "voice message without MediaId")
        ref = {"media_id": media_id, "format": _text(msg, "Format")}
        job = make_job(PLATFORM, kind="voice", voice=ref, transcript=heard, **common)
    elif kind_raw == "video":
        job = make_job(PLATFORM, kind="video", text="[video]", **common)
    elif kind_raw == "location":
        where = shared_location(_text(msg, "Location_X"), _text(msg, "Location_Y"), _text(msg, "Label"))
        job = make_job(PLATFORM, kind="location", location=where, **common)
    elif kind_raw in _USER_KINDS_WE_DO_NOT_READ:
        job = make_job(PLATFORM, kind="other", text=f"[{kind_raw}]", **common)
    else:
        return Ignored(f"message type {kind_raw}")
    return Accepted(job, dedupe=(msg_id,))


# --- outbound -----------------------------------------------------------------------------------------------


class WeComSender(Sender):
    """A turn's replies as one ``message/send`` to the user: a template card when it has buttons, else
    text cut at 2048 bytes. WeCom drops messages past about 30 a minute per user without an error."""

    def __init__(self, api: WeComApi, language: str) -> None:
        self.api, self.language = api, language

    def send(self, incoming: Incoming, replies: list[Reply]) -> None:
        reply = one_message(replies)
        if reply is None:
            return
        if not (reply.choices and wecom_cards.fits(reply.text)):  # the card cannot carry all of the text
            for piece in split_utf8(reply.text, MAX_TEXT_BYTES):
                self._deliver(incoming, functools.partial(self.api.send_text, incoming.user, piece))
        if reply.choices:
            card = wecom_cards.template_card(reply, self.language)
            self._deliver(incoming, functools.partial(self.api.send, incoming.user, "template_card", card))

    def _deliver(self, incoming: Incoming, attempt: Callable[[], Attempt]) -> None:
        deliver(attempt, policy=self.api.policy, platform=PLATFORM, session=incoming.session_key)


def sender(runtime: PlatformContext) -> Sender:
    return WeComSender(WeComApi(runtime.settings, runtime, runtime.reply_policy(PLATFORM)), runtime.settings.language)


def photo_arrived(runtime: PlatformContext, job: Job) -> None:
    """A short text: the photo arrived and is being analysed (WeCom bots have no reactions)."""
    text = say(runtime.settings.language, "photo_being_analysed")
    WeComApi(runtime.settings, runtime, RetryPolicy(attempts=1)).send_text(job.user, text)


def voice_arrived(runtime: PlatformContext, job: Job) -> None:
    """A short text: the voice note arrived and is being transcribed."""
    text = say(runtime.settings.language, "voice_being_transcribed")
    WeComApi(runtime.settings, runtime, RetryPolicy(attempts=1)).send_text(job.user, text)


def addressed(runtime: PlatformContext, job: Job) -> bool:
    """A self-built app hears direct chats only (no group messages reach it), so every message is to the bot."""
    return True


def tell_tapper(runtime: PlatformContext, job: Job) -> None:
    """Never asked: WeCom cards go to one user in a direct chat, so nobody else can tap them."""


def close_card(runtime: PlatformContext, job: Job, result: TurnResult) -> None:
    """``update_template_card``: the tapped card's buttons greyed out, named after the choice taken."""
    code = (job.card or {}).get("response_code")
    if not code:
        return
    language = runtime.settings.language
    note = say(language, "card_picked", label=result.picked) if result.picked else say(language, "card_closed")
    api = WeComApi(runtime.settings, runtime)
    deliver(
        lambda: api.update_card(job.user, code, note),
        policy=api.policy,
        platform=PLATFORM,
        session=job.user,
        what="card update",
    )


def post_card(runtime: PlatformContext, tenant: str, address: str, card: DutyCard) -> dict[str, Any]:
    """The duty card: its first photo, then its text. People (``users:``) also get a card with Claim; an app
    group chat cannot carry buttons, so its text says how to claim by typing (``认领 WO-…``)."""
    api = WeComApi(runtime.settings, runtime)
    for photo in duty_photos(runtime, card, limit=1):  # one photo: WeCom drops messages past its rate
        sent(api.send_to(address, "image", {"media_id": api.upload_image(photo)}))
    for piece in split_utf8(card.text, MAX_TEXT_BYTES):
        sent(api.send_to(address, "text", {"content": piece}))
    if card.claim is not None and address.startswith("users:"):
        sent(api.send_to(address, "template_card", wecom_cards.duty(card)))
    return {}


def update_card(runtime: PlatformContext, ref: dict[str, Any], card: DutyCard) -> None:
    """WeCom cannot redraw a card for a whole group: the change goes to the same people as one short text
    (once per order change, for the first posting only, not for each overdue reminder)."""
    if ref.get("overdue"):
        return
    api = WeComApi(runtime.settings, runtime)
    sent(api.send_to(ref["address"], "text", {"content": f"{card.title}\n{card.status}"}))
    if card.buttons and str(ref["address"]).startswith("users:"):  # the assignee's buttons (others are refused)
        sent(api.send_to(ref["address"], "template_card", wecom_cards.duty(card)))


def fetch_image(runtime: PlatformContext, job: Job) -> FetchImage:
    """A photo by MediaId (``media/get``), or by the PicUrl of older callbacks."""
    api, max_bytes = WeComApi(runtime.settings, runtime), runtime.settings.max_image_bytes

    def download(ref: dict[str, Any]) -> bytes:
        if ref.get("media_id"):
            return api.download(ref["media_id"], max_bytes)
        return http.download_image(ref["pic_url"], max_bytes=max_bytes)

    return photo_fetcher(PLATFORM, job, download)


def fetch_voice(runtime: PlatformContext, job: Job) -> FetchVoice:
    """A voice note by MediaId (``media/get``), capped at ``MAX_VOICE_BYTES``."""
    api, settings = WeComApi(runtime.settings, runtime), runtime.settings

    def download(ref: dict[str, Any]) -> bytes:
        return api.download(ref["media_id"], settings.max_voice_bytes)

    return voice_fetcher(PLATFORM, job, settings.max_voice_seconds, download)


def notify(runtime: PlatformContext, tenant: str, user: str, text: str) -> bool:
    """A message from ops to a user outside any conversation turn."""
    api = WeComApi(runtime.settings, runtime)
    return deliver(
        lambda: api.send_text(user, text),
        policy=api.policy,
        platform=PLATFORM,
        session=session_key(PLATFORM, tenant, user),
        what="notice",
    )
