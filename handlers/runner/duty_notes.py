"""Notes from the duty chat: a reply in a duty card's thread (a Slack thread reply, a Feishu reply to the card)
becomes a note on its order (``bot.orders.moves``, ``note``): its text, or its photo stored like a report's,
with who and when in the order's timeline, and ``order.note_added`` sent out. WeCom app group chats have no
threads: there a note is typed, ``备注 WO-… text`` (``bot.dialogue.flows.life``).

The duty sink remembers, for each card it posts, which thread it opens (``{p}:duty-thread:<platform>:<chat>:
<thread>`` → order id, as long as the cards themselves are remembered).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from bot.images import sniff_image_type
from bot.orders import moves
from bot.ports import Reporter, ServiceError
from bot.replies import say

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
    if not job.group or not job.thread or job.kind not in ("text", "image"):
        return False
    raw = runtime.store.redis.get(thread_key(runtime, module.PLATFORM, job.chat, job.thread))
    if raw is None:
        return False
    order_id = raw.decode() if isinstance(raw, bytes) else str(raw)
    by = Reporter(module.PLATFORM, job.tenant, job.user)
    services, settings = runtime.services, runtime.settings
    params: dict[str, Any] = {"text": job.text or None}
    try:
        if job.images:
            photos, _problem = module.fetch_image(runtime, job)()
            if photos:
                params["photo_key"] = services.storage.put(photos[0], sniff_image_type(photos[0]) or "image/jpeg")
        if not params["text"] and not params.get("photo_key"):
            return True  # nothing to keep (an empty reply, a photo that did not download)
        outcome = moves.act(services.orders, settings, "note", order_id, by, **params)
        text = moves.reply(settings.language, outcome, order_id, settings)
    except ServiceError as exc:
        log.warning("a note on %s failed: %s", order_id, exc)
        text = say(settings.language, "orders_down")
    try:
        module.notify(runtime, job.tenant, job.user, text)
    except Exception as exc:  # the note is kept whether or not its author hears of it
        log.warning("%s: telling %s of their note failed (%s)", module.PLATFORM, job.user, type(exc).__name__)
    return True
