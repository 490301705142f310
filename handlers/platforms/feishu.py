"""Feishu / Lark bot events: ``POST /webhook/feishu``.

Inbound: ``url_verification`` (plain or encrypted), event 2.0 ``im.message.receive_v1``
and card taps (``card.action.trigger``, ``feishu_cards``); with ``FEISHU_ENCRYPT_KEY`` set,
every event must carry a valid ``X-Lark-Signature`` over the exact body bytes, and ``encrypt`` bodies are
decrypted; the verification token is always checked (constant time). Acked at once;
the turn runs in the background. Outbound: one message per turn, a reply to the user's message
(or sent to the chat), a card when it has buttons; an "OK" reaction on a photo being analysed (and on a
voice note being transcribed);
images from the message's resources; the tenant token cached in Redis.
Session key: ``feishu:<tenant_key>:<open_id>``.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from bot.config import Settings
from bot.messages import Incoming, Reply, Sender, TurnResult, one_message, session_key
from bot.replies import say
from handlers.platforms import crypto, feishu_cards, feishu_messages
from handlers.platforms import http_client as http
from handlers.platforms.base import (
    Ack,
    Handshake,
    Ignored,
    Outcome,
    Rejected,
    WebhookRequest,
    fresh,
    json_object,
    photo_fetcher,
    voice_fetcher,
)
from handlers.platforms.duty_media import duty_photos
from handlers.platforms.job import Job
from handlers.platforms.outbound import DONE, Attempt, RetryPolicy, SendFailed, deliver, fail, retry, sent
from handlers.platforms.tokens import TokenError, TokenSource

if TYPE_CHECKING:
    from bot.dialogue.engine import FetchImage, FetchVoice
    from bot.orders.duty_card import DutyCard
    from handlers.platforms.base import PlatformContext

PLATFORM = "feishu"
METHODS: tuple[str, ...] = ("POST",)
ACK = Ack('{"msg":"success"}', "application/json")
log = logging.getLogger(__name__)
_BOT_OPEN_IDS: dict[str, str] = {}  # app id → its bot's open_id; it never changes for an app

# lark-oapi channel/errors.py: token-invalid and rate-limit codes; 99991661 = "missing access token"
TOKEN_EXPIRED = frozenset({99991661, 99991663, 99991664, 99991665, 99991666, 99991668})
RATE_LIMITED = frozenset({99991402, 11020, 11021})
REPLY_TARGET_GONE = frozenset({230002, 230005, 230011, 230017, 230020})


def enabled(settings: Settings) -> bool:
    return all((settings.feishu_app_id, settings.feishu_app_secret, settings.feishu_verification_token))


# --- inbound ------------------------------------------------------------------------------------------------


def parse(settings: Settings, request: WebhookRequest, now: float | None = None) -> Outcome:
    """verify → decrypt → handshake → token → drop non-user → parse (pure: no Flask, no I/O)."""
    body, headers = request.body, request.headers
    data = json_object(body)
    key = settings.feishu_encrypt_key
    lower = {k.lower(): v for k, v in headers.items()}
    signature = lower.get("x-lark-signature", "")
    signed = False
    if key and signature:
        timestamp, nonce = lower.get("x-lark-request-timestamp", ""), lower.get("x-lark-request-nonce", "")
        if not crypto.feishu_check_signature(timestamp, nonce, key, body, signature):
            raise Rejected(401, "bad X-Lark-Signature")
        if not fresh(timestamp, settings.dedupe_ttl_seconds, now):
            raise Rejected(401, "X-Lark-Request-Timestamp outside the replay window")
        signed = True
    if "encrypt" in data:
        if not key:
            raise Rejected(400, "encrypted body, but FEISHU_ENCRYPT_KEY is not set")
        if not isinstance(data["encrypt"], str):
            raise Rejected(400, "encrypt must be a string")
        try:
            plain = crypto.feishu_decrypt(key, data["encrypt"])
        except crypto.CryptoError as exc:
            raise Rejected(400, f"cannot decrypt: {exc}") from None
        data = json_object(plain, "decrypted body")
    elif key:
        # With an Encrypt Key set, Feishu encrypts every callback, the URL check included: a plaintext
        # body did not come from Feishu (and an unsigned handshake would otherwise pass on the token alone).
        raise Rejected(400, "plaintext body refused: FEISHU_ENCRYPT_KEY is set, so callbacks must be encrypted")
    if data.get("type") == "url_verification":
        # Feishu does not sign the URL check; the token (inside the encryption, if on) authenticates it.
        _check_token(settings, data.get("token"))
        challenge = data.get("challenge")
        if not isinstance(challenge, str):
            raise Rejected(400, "url_verification without a challenge")
        return Handshake(json.dumps({"challenge": challenge}), "application/json")
    if key and not signed:
        raise Rejected(401, "missing X-Lark-Signature")
    header = data.get("header")
    if data.get("schema") != "2.0" or not isinstance(header, dict):
        _check_token(settings, data.get("token"))
        return Ignored("not an event 2.0 callback")
    _check_token(settings, header.get("token"))
    if header.get("event_type") == "card.action.trigger":
        return feishu_cards.tap(settings.language, header, data.get("event"))
    if header.get("event_type") != "im.message.receive_v1":
        return Ignored(f"event {header.get('event_type')}")
    return feishu_messages.message(settings, header, data.get("event"))


def _check_token(settings: Settings, token: Any) -> None:
    expected = settings.feishu_verification_token.encode()
    if not isinstance(token, str) or not hmac.compare_digest(token.encode(), expected):
        raise Rejected(403, "wrong verification token")


# --- outbound -----------------------------------------------------------------------------------------------


class FeishuApi:
    def __init__(self, settings: Settings, runtime: PlatformContext, policy: RetryPolicy | None = None) -> None:
        self.settings = settings
        self.base = settings.feishu_api_base.rstrip("/") + "/open-apis"
        self.policy = policy or RetryPolicy()
        self.tokens = TokenSource(runtime.store, PLATFORM, settings.feishu_app_id, self._fetch_token)

    def _fetch_token(self) -> tuple[str, int]:
        body = {"app_id": self.settings.feishu_app_id, "app_secret": self.settings.feishu_app_secret}
        try:
            resp = http.request("POST", f"{self.base}/auth/v3/tenant_access_token/internal", json_body=body)
        except http.HttpError as exc:
            raise TokenError(f"feishu tenant_access_token unreachable: {exc}") from exc
        data = resp.json()
        if resp.status != 200 or data.get("code") != 0 or not data.get("tenant_access_token"):
            raise TokenError(
                f"feishu tenant_access_token: HTTP {resp.status} code {data.get('code')} "
                f"{str(data.get('msg', ''))[:200]}"
            )
        return str(data["tenant_access_token"]), int(data.get("expire") or 7200)

    def _call(
        self, path: str, body: dict[str, Any], params: dict[str, str] | None = None, method: str = "POST"
    ) -> http.Response:
        def send(token: str) -> http.Response:
            auth = {"Authorization": f"Bearer {token}"}
            return http.request(method, f"{self.base}{path}", json_body=body, params=params, secret_headers=auth)

        return self.tokens.call(send, lambda resp: resp.json().get("code") in TOKEN_EXPIRED)

    def reply(self, message_id: str, message: tuple[str, str], uuid: str, in_thread: bool = False) -> Attempt:
        """``message``: (msg_type, content), as ``_outgoing`` builds it; ``in_thread``: as a thread reply."""
        msg_type, content = message
        body = {"msg_type": msg_type, "content": content, "reply_in_thread": in_thread, "uuid": uuid}
        return self._attempt(f"/im/v1/messages/{quote(message_id, safe='')}/reply", body)

    def create(self, receive_id: str, message: tuple[str, str], uuid: str, id_type: str = "chat_id") -> Attempt:
        msg_type, content = message
        body = {"receive_id": receive_id, "msg_type": msg_type, "content": content, "uuid": uuid}
        return self._attempt("/im/v1/messages", body, {"receive_id_type": id_type})

    def patch_card(self, message_id: str, card: dict[str, Any]) -> Attempt:
        body = {"content": feishu_cards.content(card)}
        return self._attempt(f"/im/v1/messages/{quote(message_id, safe='')}", body, method="PATCH")

    def react(self, message_id: str, emoji: str) -> Attempt:
        body = {"reaction_type": {"emoji_type": emoji}}
        return self._attempt(f"/im/v1/messages/{quote(message_id, safe='')}/reactions", body)

    def _attempt(
        self, path: str, body: dict[str, Any], params: dict[str, str] | None = None, method: str = "POST"
    ) -> Attempt:
        return self._attempt_for(path, body, params, method)[0]

    def _attempt_for(
        self, path: str, body: dict[str, Any], params: dict[str, str] | None = None, method: str = "POST"
    ) -> tuple[Attempt, dict[str, Any]]:
        """The call's outcome and the ``data`` of Feishu's answer ({} when none)."""
        try:
            resp = self._call(path, body, params, method)
        except (TokenError, http.HttpError) as exc:
            return retry(str(exc)), {}
        data = resp.json().get("data")
        return _classify(resp), data if isinstance(data, dict) else {}

    def send_card(self, chat_id: str, card: dict[str, Any], uuid: str) -> str:
        """A new card in a chat; its message id. Raises SendFailed."""
        body = {"receive_id": chat_id, "msg_type": "interactive", "content": feishu_cards.content(card), "uuid": uuid}
        attempt, data = self._attempt_for("/im/v1/messages", body, {"receive_id_type": "chat_id"})
        sent(attempt)
        return str(data.get("message_id") or "")

    def upload_image(self, data: bytes) -> str:
        """``POST /open-apis/im/v1/images`` (``image_type=message``): the ``image_key`` a card shows it by."""
        body, content_type = http.multipart(
            {"image_type": "message"}, "image", "photo", data, "application/octet-stream"
        )

        def send(token: str) -> http.Response:
            headers = {"Content-Type": content_type}
            auth = {"Authorization": f"Bearer {token}"}
            return http.request("POST", f"{self.base}/im/v1/images", data=body, headers=headers, secret_headers=auth)

        try:
            resp = self.tokens.call(send, lambda answer: answer.json().get("code") in TOKEN_EXPIRED)
        except (TokenError, http.HttpError) as exc:
            raise SendFailed(retry(str(exc))) from exc
        sent(_classify(resp))
        key = (resp.json().get("data") or {}).get("image_key")
        if not isinstance(key, str) or not key:
            raise SendFailed(fail("im/v1/images answered without an image_key"))
        return key

    def bot_open_id(self) -> str:
        """This app's bot's open_id (``GET /open-apis/bot/v3/info``), asked once per process."""
        cached = _BOT_OPEN_IDS.get(self.settings.feishu_app_id)
        if cached:
            return cached
        resp = self._call("/bot/v3/info", {}, method="GET")
        bot = resp.json().get("bot")
        open_id = bot.get("open_id") if isinstance(bot, dict) else None
        if resp.json().get("code") != 0 or not isinstance(open_id, str) or not open_id:
            raise http.HttpError(f"bot/v3/info: HTTP {resp.status} code {resp.json().get('code')}")
        _BOT_OPEN_IDS[self.settings.feishu_app_id] = open_id
        return open_id

    def download(self, message_id: str, file_key: str, max_bytes: int, resource: str = "image") -> bytes:
        """A user's image (or file) from its message (``im/v1/messages/{id}/resources/{key}?type=…``)."""
        kind = "file" if resource == "file" else "image"
        url = (
            f"{self.base}/im/v1/messages/{quote(message_id, safe='')}/resources/{quote(file_key, safe='')}?type={kind}"
        )

        def fetch(token: str) -> bytes:
            return http.download_image(url, max_bytes=max_bytes, secret_headers={"Authorization": f"Bearer {token}"})

        return self.tokens.download(fetch, "code", TOKEN_EXPIRED, "message resource")


def _outgoing(reply: Reply, to: str = "") -> tuple[str, str]:
    """(msg_type, content): a card when the reply has buttons, else text. In a group it is addressed
    ``to`` the user (an @mention), and the card's buttons are marked theirs."""
    if reply.choices:
        return "interactive", feishu_cards.content(feishu_cards.card(reply, to))
    text = f'<at user_id="{to}"></at> {reply.text}' if to else reply.text
    return "text", json.dumps({"text": text}, ensure_ascii=False)


def _classify(resp: http.Response) -> Attempt:
    data = resp.json()
    code = data.get("code")
    if resp.status == 429 or code in RATE_LIMITED:
        reset = resp.headers.get("x-ogw-ratelimit-reset")
        after = resp.retry_after()
        if after is None and reset and reset.isdigit():
            after = float(reset)
        return retry(f"rate limited (HTTP {resp.status}, code {code})", after)
    if resp.status >= 500:
        return retry(f"HTTP {resp.status}")
    if code == 0 and resp.status == 200:
        return DONE
    if code in REPLY_TARGET_GONE:
        return fail(f"gone:{code}")
    return fail(f"HTTP {resp.status} code {code} {str(data.get('msg', ''))[:200]}")


class FeishuSender(Sender):
    """Reply to the user's message; to the chat if there is none (or it was withdrawn).

    Each reply carries a ``uuid`` derived from the message and the reply, so a retry after a
    lost answer is sent once (Feishu de-duplicates a uuid for an hour).
    """

    def __init__(self, api: FeishuApi) -> None:
        self.api = api

    def send(self, incoming: Incoming, replies: list[Reply]) -> None:
        reply = one_message(replies)
        if reply is None:
            return
        where = incoming.reply_to or incoming.event_id or ""
        uuid = hashlib.sha256(f"{where}|{reply.text}".encode()).hexdigest()[:40]
        deliver(
            functools.partial(self._one, incoming, _outgoing(reply, incoming.user if incoming.group else ""), uuid),
            policy=self.api.policy,
            platform=PLATFORM,
            session=incoming.session_key,
        )

    def _one(self, incoming: Incoming, message: tuple[str, str], uuid: str) -> Attempt:
        if incoming.reply_to:
            outcome = self.api.reply(incoming.reply_to, message, uuid, in_thread=incoming.group)
            if not outcome.detail.startswith("gone:") or not incoming.chat:
                return outcome
        if not incoming.chat:
            return fail("no message or chat to answer")
        return self.api.create(incoming.chat, message, uuid)


def notify(runtime: PlatformContext, tenant: str, user: str, text: str) -> bool:
    """A message from ops to a user outside any conversation turn (a new message to their open_id)."""
    api = FeishuApi(runtime.settings, runtime)
    uuid = hashlib.sha256(f"notify|{user}|{text}|{time.time()}".encode()).hexdigest()[:40]
    return deliver(
        lambda: api.create(user, _outgoing(Reply(text)), uuid, id_type="open_id"),
        policy=api.policy,
        platform=PLATFORM,
        session=session_key(PLATFORM, tenant, user),
        what="notice",
    )


def sender(runtime: PlatformContext) -> Sender:
    return FeishuSender(FeishuApi(runtime.settings, runtime, runtime.reply_policy(PLATFORM)))


def photo_arrived(runtime: PlatformContext, job: Job) -> None:
    """An "OK" reaction on the user's photo: it arrived and is being looked at."""
    FeishuApi(runtime.settings, runtime).react(job.images[0]["message_id"], "OK")


def voice_arrived(runtime: PlatformContext, job: Job) -> None:
    """An "OK" reaction on the user's voice note: it arrived and is being transcribed."""
    FeishuApi(runtime.settings, runtime).react((job.voice or {})["message_id"], "OK")


def addressed(runtime: PlatformContext, job: Job) -> bool:
    """Is this app's bot among a group message's mentions? Unknown (bot info unreachable) counts as no:
    the bot never answers chatter, and the user can mention it again."""
    try:
        return FeishuApi(runtime.settings, runtime).bot_open_id() in job.mentions
    except (TokenError, http.HttpError) as exc:
        log.warning("feishu bot info unavailable, a mention is not recognised: %s", exc)
        return False


def tell_tapper(runtime: PlatformContext, job: Job) -> None:
    """Never asked: a tap on someone else's card is answered by a toast in ``parse`` (``feishu_cards.tap``)."""


def close_card(runtime: PlatformContext, job: Job, result: TurnResult) -> None:
    """Redraw the tapped card: its text, and the choice taken in place of its buttons. A stale tap's card
    is left as it is (the callback does not carry the card's text); the user was told in a reply."""
    if not result.picked or result.card is None or not job.card:
        return
    note = say(runtime.settings.language, "card_picked", label=result.picked)
    api = FeishuApi(runtime.settings, runtime)
    deliver(
        lambda: api.patch_card((job.card or {})["message_id"], feishu_cards.closed(result.card or "", note)),
        policy=api.policy,
        platform=PLATFORM,
        session=job.user,
        what="card update",
    )


def post_card(runtime: PlatformContext, tenant: str, address: str, card: DutyCard) -> dict[str, Any]:
    """The duty card in the duty chat, its photos uploaded (``im/v1/images``) and shown in the card."""
    api = FeishuApi(runtime.settings, runtime)
    images = [api.upload_image(data) for data in duty_photos(runtime, card, limit=4)]
    uuid = hashlib.sha256(f"duty|{address}|{card.order_id}|{card.title}".encode()).hexdigest()[:40]
    message_id = api.send_card(address.removeprefix("chat:"), feishu_cards.duty(card, images), uuid)
    return {"message_id": message_id, "images": images}


def update_card(runtime: PlatformContext, ref: dict[str, Any], card: DutyCard) -> None:
    """``PATCH`` the posted duty card (a shared card: everyone in the chat sees the change)."""
    api = FeishuApi(runtime.settings, runtime)
    sent(api.patch_card(ref["message_id"], feishu_cards.duty(card, list(ref.get("images") or []))))


def fetch_image(runtime: PlatformContext, job: Job) -> FetchImage:
    """A user's images (and files) from its message's resources."""
    api, max_bytes = FeishuApi(runtime.settings, runtime), runtime.settings.max_image_bytes
    return photo_fetcher(
        PLATFORM,
        job,
        lambda ref: api.download(ref["message_id"], ref["file_key"], max_bytes, ref.get("type", "image")),
    )


def fetch_voice(runtime: PlatformContext, job: Job) -> FetchVoice:
    """A voice note from its message's resources (``type=file``), capped at ``MAX_VOICE_BYTES``."""
    api, settings = FeishuApi(runtime.settings, runtime), runtime.settings

    def download(ref: dict[str, Any]) -> bytes:
        return api.download(ref["message_id"], ref["file_key"], settings.max_voice_bytes, "file")

    return voice_fetcher(PLATFORM, job, settings.max_voice_seconds, download)
