"""A platform turn after the ack: the photo (or voice note) fetched under the user's lock, the engine, the replies
sent."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from bot.messages import TurnResult
from handlers.platforms.base import PlatformModule
from handlers.platforms.job import Job
from handlers.runner.duty import claim_tap
from handlers.runner.duty_notes import note_in_thread

if TYPE_CHECKING:
    from bot.dialogue.engine import FetchImage, FetchVoice
    from handlers.runner.runtime import Runtime

log = logging.getLogger(__name__)


def run_turn(runtime: Runtime, module: PlatformModule, job: Job) -> None:
    """After the ack: run the turn (the photo is fetched under the user's lock) and send its replies before the lock
    is given up.

    A photo the VLM will look at is acknowledged first (a reaction, or a short text), so the user
    knows it arrived even when the analysis takes a while; so is a voice note that will be transcribed. A
    voice note the platform transcribed itself (WeCom's ``Recognition``) is downloaded all the same, here after
    the ack, unannounced: its words need no call, but a report or a note keeps its recording. A tap's card is
    closed afterwards: its buttons give way to the choice taken, or to "no longer open".
    """
    if job.foreign_tap:  # a tap on a card meant for someone else: only they are told
        _quietly(module.tell_tapper, runtime, job)
        return

    if claim_tap(runtime, module, job):  # a duty card's button: about the order, not the tapper's conversation
        return
    if note_in_thread(runtime, module, job):  # a reply in a duty card's thread: a note on its order
        return
    incoming = job.incoming(addressed=module.addressed(runtime, job) if job.mentions else None)
    fetch_image = _announced(runtime, module, job) if job.images else None
    fetch_voice = _heard(runtime, module, job) if job.voice is not None else None

    def deliver(result: TurnResult) -> None:
        """Sent while the turn holds the user's lock, so a burst's answers arrive in the order it was sent."""
        if job.card and (result.picked or result.stale):
            _quietly(module.close_card, runtime, job, result)
        module.sender(runtime).send(replace(incoming, reply_to=result.thread or incoming.reply_to), result.replies)

    runtime.engine.handle(incoming, fetch_image=fetch_image, deliver=deliver, fetch_voice=fetch_voice)


def _announced(runtime: Runtime, module: PlatformModule, job: Job) -> FetchImage:
    """The job's photo download, which first tells the user their photo arrived when the VLM will look
    at it. It runs only for a turn that goes ahead (never for group chatter the bot ignores)."""
    fetch = module.fetch_image(runtime, job)

    def announced() -> tuple[list[bytes], str | None]:
        if runtime.services.vlm is not None:
            _quietly(module.photo_arrived, runtime, job)
        return fetch()

    return announced


def _heard(runtime: Runtime, module: PlatformModule, job: Job) -> FetchVoice:
    """The job's voice note download, which first tells the user it arrived when it will be transcribed (a
    speech service is set, the platform sent no transcript, and its length is within ``MAX_VOICE_SECONDS``)."""
    fetch = module.fetch_voice(runtime, job)
    settings = runtime.settings

    def heard() -> tuple[bytes | None, str | None]:
        too_long = job.voice_seconds is not None and job.voice_seconds > settings.max_voice_seconds
        if runtime.services.stt is not None and not too_long and not job.transcript:
            _quietly(module.voice_arrived, runtime, job)
        return fetch()

    return heard


def _quietly(call: Callable[..., None], runtime: Runtime, job: Job, *args: Any) -> None:
    """A courtesy call (a reaction, a card's buttons greyed out): its failure is logged, the turn goes on."""
    try:
        call(runtime, job, *args)
    except Exception as exc:
        log.warning("%s: %s failed (%s)", job.platform, call.__name__, type(exc).__name__)
