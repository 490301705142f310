"""Slack Events API: ``POST /webhook/slack``.

Inbound: v0 signature with the 5-minute window (``slack_sdk.signature``), the
``url_verification`` challenge, ``message`` events (text, or a ``file_share``
carrying an image or a voice clip), and button taps: interactivity posts form-encoded ``payload=`` to the
same URL, signed the same way, ``type: block_actions``. Messages from bots and from this
app itself are dropped, as are edits, deletions, joins and other subtypes, so a reply can
never trigger a reply.
Acked at once (Slack's budget is 3 s); the turn runs in the background. Outbound:
one ``chat.postMessage`` per turn in the same channel (and thread), with Block Kit buttons
(``slack_blocks``); ``chat.update`` closes a tapped card; ``reactions.add`` 👀 says a photo
arrived (👂 a voice clip); files by ``url_private_download`` with the bot token, which is only ever sent to Slack.
Session key: ``slack:<team_id>:<user id>``.
"""

from __future__ import annotations

import functools
import html
import logging
import re
import urllib.parse
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from bot.config import Settings
from bot.messages import Incoming, Reply, Sender, TurnResult, one_message, session_key
from bot.replies import say
from handlers.platforms import crypto, slack_blocks
from handlers.platforms.base import (
    Accepted,
    Ack,
    Handshake,
    Ignored,
    Outcome,
    Rejected,
    WebhookRequest,
    declared_seconds,
    json_object,
    photo_fetcher,
    string,
    voice_fetcher,
)
from handlers.platforms.duty_media import duty_photo_links
from handlers.platforms.job import Job, make_job
from handlers.platforms.outbound import RetryPolicy, deliver, sent
from handlers.platforms.slack_api import SlackApi

if TYPE_CHECKING:
    from bot.dialogue.engine import FetchImage, FetchVoice
    from bot.orders.duty_card import DutyCard
    from handlers.platforms.base import PlatformContext

PLATFORM = "slack"
METHODS: tuple[str, ...] = ("POST",)
ACK = Ack()
log = logging.getLogger(__name__)

_ACCEPTED_SUBTYPES = (None, "", "file_share", "thread_broadcast")
_PERSON_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")


def enabled(settings: Settings) -> bool:
    return bool(settings.slack_signing_secret and settings.slack_bot_token)


# --- inbound ------------------------------------------------------------------------------------------------


def parse(settings: Settings, request: WebhookRequest, verifier: Any = None) -> Outcome:
    """verify → handshake → drop bots/self/edits → parse (pure: no Flask, no I/O)."""
    body, headers = request.body, request.headers
    if not crypto.slack_check_signature(settings.slack_signing_secret, body, headers, verifier):
        raise Rejected(401, "bad or stale X-Slack-Signature")
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    if content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
        return _interaction(body)
    data = json_object(body)
    kind = data.get("type")
    if kind == "url_verification":
        challenge = data.get("challenge")
        if not isinstance(challenge, str):
            raise Rejected(400, "url_verification without a challenge")
        return Handshake(challenge)
    if kind != "event_callback":
        return Ignored(f"callback type {kind}")
    event = data.get("event")
    if not isinstance(event, dict):
        raise Rejected(400, "event_callback without an event")
    if event.get("type") not in ("message", "app_mention"):
        return Ignored(f"event {event.get('type')}")
    if event.get("bot_id") or event.get("subtype") == "bot_message" or event.get("bot_profile"):
        return Ignored("a bot's message")
    user = event.get("user")
    if not isinstance(user, str) or not user:
        return Ignored("message without a user")
    own = _own_user_ids(data)  # read once: the self check, the mention check and the text all need it
    if user in own:
        return Ignored("this app's own message")
    if event.get("subtype") not in _ACCEPTED_SUBTYPES or event.get("hidden"):
        return Ignored(f"message subtype {event.get('subtype')}")
    team = data.get("team_id") or event.get("team")
    channel = event.get("channel")
    if not isinstance(team, str) or not team or not isinstance(channel, str) or not channel:
        raise Rejected(400, "message without team_id or channel")
    ts = string(event, "ts")
    # In a channel Slack sends a mention twice, as app_mention and as message, with different event ids:
    # the message's channel and ts identify it once.
    message_id = f"{channel}-{ts}" if ts else string(data, "event_id")
    group = string(event, "channel_type") != "im" and not channel.startswith("D")
    thread = string(event, "thread_ts") or ts
    common: dict[str, Any] = {
        "tenant": team,
        "user": user,
        "event_id": message_id,
        "chat": channel,
        "reply_to": thread if group else string(event, "thread_ts"),
        "group": group,
        "addressed": not group or event.get("type") == "app_mention" or _mentions_bot(event, own),
        "thread": thread,
    }
    text = _plain_text(event.get("text"), bots=own)
    listed = event.get("files")
    files = [f for f in listed if isinstance(f, dict)] if isinstance(listed, list) else []
    photos = [_file_ref(f, ts) for f in files if _may_be_photo(string(f, "mimetype"))]
    # A clip recorded in Slack (``slack_audio``: m4a as audio/mp4 or video/mp4, or webm); a real video is
    # ``slack_video``. Its ``transcription`` is not relied on: it is undocumented and often still processing.
    clip = next((f for f in files if string(f, "subtype") == "slack_audio"), None)
    if clip is not None and not photos:
        seconds = declared_seconds(clip.get("duration_ms"))
        job = make_job(PLATFORM, kind="voice", voice=_file_ref(clip, ts), voice_seconds=seconds, **common)
    elif photos:
        job = make_job(PLATFORM, kind="image", text=text, images=photos[: settings.max_photos_per_report], **common)
    elif any(string(f, "mimetype").startswith("video/") for f in files):
        job = make_job(PLATFORM, kind="video", text="[video]", **common)
    elif files:
        job = make_job(PLATFORM, kind="other", text="[file]", **common)
    elif text:
        job = make_job(PLATFORM, kind="text", text=text, **common)
    else:
        return Ignored("empty message")
    return Accepted(job, dedupe=(message_id,))


def _may_be_photo(mimetype: str) -> bool:
    """An image, or a file Slack could not type (a photo shared as a document, some HEICs): its bytes decide.
    A PDF or a video is never downloaded."""
    return mimetype.startswith("image/") or mimetype in ("", "application/octet-stream", "binary")


def _file_ref(file: dict[str, Any], message_ts: str) -> dict[str, Any]:
    size = file.get("size")
    return {
        "url": string(file, "url_private_download") or string(file, "url_private"),
        "file_id": string(file, "id"),
        "size": size if isinstance(size, int) and not isinstance(size, bool) else None,
        "message_ts": message_ts,
    }


def _mentions_bot(event: dict[str, Any], own: set[str]) -> bool:
    """Does a channel message's text mention this app's bot user (``<@U…>``)?"""
    raw = event.get("text")
    return isinstance(raw, str) and any(f"<@{bot}" in raw for bot in own)


def _interaction(body: bytes) -> Outcome:
    """A tap on one of our buttons (``block_actions``): a turn of the user who tapped, by the choice id."""
    try:
        form = urllib.parse.parse_qs(body.decode("utf-8"), strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        raise Rejected(400, "interaction body is not a form") from None
    raw = form.get("payload") or []
    if len(raw) != 1:
        raise Rejected(400, "interaction without one payload field")
    data = json_object(raw[0], "payload")
    if data.get("type") != "block_actions":
        return Ignored(f"interaction {data.get('type')}")
    user: dict[str, Any] = data["user"] if isinstance(data.get("user"), dict) else {}
    team: dict[str, Any] = data["team"] if isinstance(data.get("team"), dict) else {}
    container: dict[str, Any] = data["container"] if isinstance(data.get("container"), dict) else {}
    channel: dict[str, Any] = data["channel"] if isinstance(data.get("channel"), dict) else {}
    message: dict[str, Any] = data["message"] if isinstance(data.get("message"), dict) else {}
    actions = data.get("actions")
    action = actions[0] if isinstance(actions, list) and actions and isinstance(actions[0], dict) else {}
    if not string(action, "action_id").startswith(slack_blocks.ACTION_PREFIX):
        return Ignored(f"action {string(action, 'action_id')!r} is not ours")
    user_id, team_id = string(user, "id"), string(team, "id") or string(user, "team_id")
    channel_id = string(channel, "id") or string(container, "channel_id")
    message_ts = string(container, "message_ts") or string(message, "ts")
    value = slack_blocks.tapped_value(action)
    if not all((user_id, team_id, channel_id, message_ts, value)):
        raise Rejected(400, "block_actions without user, team, channel, message or value")
    event_id = f"tap-{channel_id}-{message_ts}-{string(action, 'action_ts')}"
    owner = slack_blocks.card_owner(action)
    if owner and owner != user_id:
        # Someone else's card in a group: only the tapper is told (an ephemeral message); nothing changes.
        notice = make_job(PLATFORM, tenant=team_id, user=user_id, kind="other", event_id=event_id, chat=channel_id)
        return Accepted(replace(notice, foreign_tap=True, thread=string(message, "thread_ts")), dedupe=(event_id,))
    job = make_job(
        PLATFORM,
        tenant=team_id,
        user=user_id,
        kind="action",
        action=value,
        event_id=event_id,
        chat=channel_id,
        reply_to=string(message, "thread_ts"),
        card={"channel": channel_id, "ts": message_ts, "text": _plain_text(message.get("text"))},
        group=bool(owner),
        thread=string(message, "thread_ts"),
    )
    return Accepted(job, dedupe=(event_id,))


def _own_user_ids(data: dict[str, Any]) -> set[str]:
    """This app's bot user, from the event's ``authorizations`` (what Bolt's IgnoringSelfEvents uses)."""
    auths = data.get("authorizations")
    if not isinstance(auths, list):
        return set()
    return {
        a["user_id"] for a in auths if isinstance(a, dict) and a.get("is_bot") and isinstance(a.get("user_id"), str)
    }


def _plain_text(raw: Any, bots: set[str] | None = None) -> str:
    """Slack's mrkdwn to what the user typed: mentions of the bot removed (of anyone when the bot is not known),
    other people's kept as ``<@U…>`` (``转交 WO-… @someone`` names them), &amp; &lt; &gt; unescaped."""
    if not isinstance(raw, str):
        return ""

    def mention(match: re.Match[str]) -> str:
        return "" if not bots or match.group(1) in bots else f"<@{match.group(1)}>"

    return html.unescape(_PERSON_MENTION.sub(mention, raw)).strip()


# --- outbound -----------------------------------------------------------------------------------------------


class SlackSender(Sender):
    """One ``chat.postMessage`` per turn in the user's channel (in the thread when they wrote in one)."""

    def __init__(self, api: SlackApi, language: str) -> None:
        self.api, self.language = api, language

    def send(self, incoming: Incoming, replies: list[Reply]) -> None:
        reply = one_message(replies)
        if reply is None:
            return
        text, blocks = reply.text, None
        if incoming.group:  # in a channel: in the flow's thread, to the user by name, buttons marked theirs
            text = f"<@{incoming.user}> {text}"
            blocks = slack_blocks.blocks(reply, self.language, mention=incoming.user, owner=incoming.user)
        elif reply.choices:
            blocks = slack_blocks.blocks(reply, self.language)
        deliver(
            functools.partial(self.api.post_message, incoming.chat, text, incoming.reply_to, blocks),
            policy=self.api.policy,
            platform=PLATFORM,
            session=incoming.session_key,
        )


def sender(runtime: PlatformContext) -> Sender:
    return SlackSender(SlackApi(runtime.settings, runtime.reply_policy(PLATFORM)), runtime.settings.language)


def photo_arrived(runtime: PlatformContext, job: Job) -> None:
    """👀 on the user's photo: it arrived and is being looked at."""
    ts = job.images[0].get("message_ts")
    if ts:
        api = SlackApi(runtime.settings, RetryPolicy(attempts=1))
        api.call("reactions.add", {"channel": job.chat, "timestamp": ts, "name": "eyes"})


def voice_arrived(runtime: PlatformContext, job: Job) -> None:
    """👂 on the user's voice clip: it arrived and is being transcribed."""
    ts = (job.voice or {}).get("message_ts")
    if ts:
        api = SlackApi(runtime.settings, RetryPolicy(attempts=1))
        api.call("reactions.add", {"channel": job.chat, "timestamp": ts, "name": "ear"})


def addressed(runtime: PlatformContext, job: Job) -> bool:
    """Slack tells in ``parse`` (app_mention, or the bot's ``<@U…>`` in the text); no job lists mentions."""
    return bool(job.addressed)


def tell_tapper(runtime: PlatformContext, job: Job) -> None:
    """``chat.postEphemeral``: the card someone tapped was another user's; only they see this."""
    api = SlackApi(runtime.settings, RetryPolicy(attempts=1))
    body = {"channel": job.chat, "user": job.user, "text": say(runtime.settings.language, "not_your_card")}
    if job.thread:
        body["thread_ts"] = job.thread
    api.call("chat.postEphemeral", body)


def close_card(runtime: PlatformContext, job: Job, result: TurnResult) -> None:
    """``chat.update``: the tapped message keeps its text; its buttons become what was chosen."""
    card, language = job.card or {}, runtime.settings.language
    note = say(language, "card_picked", label=result.picked) if result.picked else say(language, "card_closed")
    text = card.get("text") or result.card or ""
    api = SlackApi(runtime.settings)
    body = {
        "channel": card.get("channel"),
        "ts": card.get("ts"),
        "text": text,
        "blocks": slack_blocks.closed(text, note),
    }
    deliver(lambda: api.call("chat.update", body), policy=api.policy, platform=PLATFORM, session=job.user)


def post_card(runtime: PlatformContext, tenant: str, address: str, card: DutyCard) -> dict[str, Any]:
    """``chat.postMessage`` of the duty card (its photos as image blocks when storage can link them)."""
    channel = address.removeprefix("chat:")
    body = {"channel": channel, "text": card.text, "blocks": slack_blocks.duty(card, duty_photo_links(runtime, card))}
    attempt, answer = SlackApi(runtime.settings).call_for("chat.postMessage", body)
    sent(attempt)
    return {"channel": answer.get("channel") or channel, "ts": answer.get("ts") or ""}


def update_card(runtime: PlatformContext, ref: dict[str, Any], card: DutyCard) -> None:
    """``chat.update`` of a posted duty card."""
    blocks = slack_blocks.duty(card, duty_photo_links(runtime, card))
    body = {"channel": ref["channel"], "ts": ref["ts"], "text": card.text, "blocks": blocks}
    sent(SlackApi(runtime.settings).call("chat.update", body))


def fetch_image(runtime: PlatformContext, job: Job) -> FetchImage:
    api = SlackApi(runtime.settings)
    return photo_fetcher(PLATFORM, job, lambda ref: api.download(ref, runtime.settings.max_image_bytes))


def fetch_voice(runtime: PlatformContext, job: Job) -> FetchVoice:
    """A voice clip by its private URL with the bot token, capped at ``MAX_VOICE_BYTES``."""
    api, settings = SlackApi(runtime.settings), runtime.settings
    return voice_fetcher(
        PLATFORM, job, settings.max_voice_seconds, lambda ref: api.download(ref, settings.max_voice_bytes)
    )


def notify(runtime: PlatformContext, tenant: str, user: str, text: str) -> bool:
    """A message from ops to a user outside any conversation turn: a user id as channel is the app's DM."""
    api = SlackApi(runtime.settings)
    return deliver(
        lambda: api.post_message(user, text, ""),
        policy=api.policy,
        platform=PLATFORM,
        session=session_key(PLATFORM, tenant, user),
        what="notice",
    )
