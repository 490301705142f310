"""Notes from the duty chat: a reply in a duty card's thread (a Slack thread reply, a Feishu reply to the card)
becomes a note on its order (``bot.orders.moves``, ``note``): its text, its photo stored like a report's, or its
voice note (recording stored, words transcribed), with who and when in the order's timeline, and
``order.note_added`` sent out. WeCom app group chats have no
threads: there a note is typed, ``备注 WO-… text`` (``bot.dialogue.flows.life``).

The duty sink remembers, for each card it posts, which thread it opens (``{p}:duty-thread:<platform>:<chat>:
<thread>`` → order id, as long as the cards themselves are remembered).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from bot.dialogue.voice import keep_audio, transcribe
from bot.images import sniff_image_type
from bot.messages import session_key
from bot.orders import moves
from bot.ports import Reporter, ServiceError
from bot.replies import say
from bot.replies_voice import VOICE_PROBLEMS

if TYPE_CHECKING:
    from handlers.platforms.base import PlatformModule
    from handlers.platforms.job import Job
    from handlers.runner.runtime import Runtime

log = logging.getLogger(__name__)


def thread_key(runtime: Runtime, platform: str, chat: str, thread: str) -> str:
    return runtime.store.key("duty-thread", f"{platform}:{chat}:{thread}")


def remember_thread(runtime: Runtime, platform: str, address: str, ref: dict[str, Any], ttl: int) -> None:
    """After a card is posted: its thread (Slack's ``ts``, Feishu's ``message_id``) leads to its order."""
    thread = str(ref.get("ts") or ref.get("message_id") or "")
    chat = str(ref.get("channel") or address.removeprefix("chat:"))
    order_id = str(ref.get("order_id") or "")
    if thread and order_id:
        runtime.store.redis.set(thread_key(runtime, platform, chat, thread), order_id, ex=ttl)


def note_in_thread(runtime: Runtime, module: PlatformModule, job: Job) -> bool:
    """A group message in a duty card's thread: a note on its order. False for any other message."""
    if not job.group or not job.thread or job.kind not in ("text", "image", "voice"):
        return False
    raw = runtime.store.redis.get(thread_key(runtime, module.PLATFORM, job.chat, job.thread))
    if raw is None:
        return False
    order_id = raw.decode() if isinstance(raw, bytes) else str(raw)
    by = Reporter(module.PLATFORM, job.tenant, job.user)
    services, settings = runtime.services, runtime.settings
    lang = settings.language
    params: dict[str, Any] = {"text": job.text or None}
    quote = after = ""  # a voice note's words quoted before the outcome; a sentence after it (kept without words)
    try:
        if job.images:
            photos, _problem = module.fetch_image(runtime, job)()
            if photos:
                params["photo_key"] = services.storage.put(photos[0], sniff_image_type(photos[0]) or "image/jpeg")
        if job.kind == "voice":
            spoken, quote, after = _spoken(runtime, module, job, by)
            params.update(spoken)
        if not params["text"] and not params.get("photo_key"):
            if not after:
                return True  # nothing to keep (an empty reply, a photo that did not download)
            text = after  # a voice note that did not come through: its author hears why
        else:
            outcome = moves.act(services.orders, settings, "note", order_id, by, **params)
            if not outcome.done:
                _forget(runtime, params.get("voice_key"), params.get("photo_key"))
                after = ""
            replied = moves.reply(lang, outcome, order_id, settings)
            text = "\n\n".join(part for part in (quote, replied, after) if part)
    except ServiceError as exc:
        log.warning("a note on %s failed: %s", order_id, exc)
        _forget(runtime, params.get("voice_key"), params.get("photo_key"))
        text = say(lang, "orders_down")
    try:
        module.notify(runtime, job.tenant, job.user, text)
    except Exception as exc:  # the note is kept whether or not its author hears of it
        log.warning("%s: telling %s of their note failed (%s)", module.PLATFORM, job.user, type(exc).__name__)
    return True


def _spoken(runtime: Runtime, module: PlatformModule, job: Job, by: Reporter) -> tuple[dict[str, Any], str, str]:
    """A voice reply as a note: (its params, the words quoted to its author, a sentence after the outcome).

    The recording is stored and the words heard (the speech service's, or the platform's own transcript). Heard
    or not, the recording is kept: a technician's voice note is never dropped; without words the note says so,
    and so does the sentence its author hears. No audio (a failed download, a note too large or too long to
    fetch): no note, and the sentence saying why."""
    services, lang = runtime.services, runtime.settings.language
    audio, problem = module.fetch_voice(runtime, job)()
    if not audio:
        too_long = job.voice_seconds is not None and job.voice_seconds > runtime.settings.max_voice_seconds
        reason = problem or ("too_long" if too_long else "download_failed")
        name = f"voice_{reason}" if f"voice_{reason}" in VOICE_PROBLEMS else "voice_download_failed"
        return {}, "", say(lang, name, limit=f"{runtime.settings.max_voice_seconds:g}")
    skey = session_key(by.platform, by.tenant, by.user, job.chat)
    key = keep_audio(audio, services, skey)  # None: storage is down; the words, if heard, still make the note
    words = (job.transcript or "").strip() or transcribe(audio, by.home, services, skey)[0]
    if words:  # quoted, so a wrong transcription is seen
        return {"text": words, "voice_key": key}, say(lang, "voice_heard", words=words), ""
    if key is None:  # neither words nor a recording to keep: sent again, or typed
        return {}, "", say(lang, "voice_download_failed")
    untranscribed = {"text": say(lang, "voice_note_untranscribed"), "voice_key": key}
    return untranscribed, "", say(lang, "voice_note_kept")


def _forget(runtime: Runtime, *keys: str | None) -> None:
    """A note's recording and photo no order holds (the note was refused, or failed): deleted, best effort."""
    for key in keys:
        if not key:
            continue
        try:
            runtime.services.storage.delete(key)
        except (KeyError, ServiceError) as exc:
            log.warning("could not delete a note's file no order holds: %s", type(exc).__name__)
