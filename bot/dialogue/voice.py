"""A voice note heard: its words, read like typed text; or the reason it was not heard.

The transcript is the text of the turn: an answer to "where?", a command, a choice — through the same
understanding as typed text. In a report, words that are no place, command or choice become the reporter's
note (``note``) rather than a question about the place: a worker who speaks describes more than they type.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.dialogue.intents import Intent
from bot.dialogue.machine import REPORTING
from bot.dialogue.services import Services
from bot.dialogue.understanding import reads_like_no_place, understand
from bot.messages import Incoming
from bot.ports import SttError, VoiceRejected
from bot.session import Session

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Heard:
    intent: Intent  # ``voice_unheard`` with the reason ("no_stt", "too_long", "stt_failed"…) when not heard
    words: str = ""  # what was heard, to quote back before anything else
    failed: bool = False  # the speech-to-text service failed (counted like other failures)


def hear(incoming: Incoming, session: Session, services: Services) -> Heard:
    settings = services.settings
    problem = incoming.voice_problem
    if problem is None and (incoming.voice_seconds or 0) > settings.max_voice_seconds:
        problem = "too_long"
    words = (incoming.transcript or "").strip() if problem is None else ""
    if problem is None and not words:
        words, problem = _transcribe(incoming, session, services)
    if problem is not None:
        return Heard(Intent("voice_unheard", problem), failed=problem == "stt_failed")
    types = settings.alarm_type_list
    intent = understand(words, session, types, services.nlu)
    if intent.name == "propose_place" and session.state in REPORTING and reads_like_no_place(intent.arg, types):
        intent = Intent("note", intent.arg)
    return Heard(intent, words)


def _transcribe(incoming: Incoming, session: Session, services: Services) -> tuple[str, str | None]:
    stt, audio = services.stt, incoming.voice
    if stt is None:
        return "", "no_stt"
    if not audio:
        return "", "download_failed"
    settings = services.settings
    try:
        heard = stt.transcribe(audio, language=settings.language, prompt=prompt(settings.alarm_type_list))
    except VoiceRejected as exc:
        return "", exc.reason
    except SttError as exc:
        log.warning("voice note not transcribed: %s", exc, extra={"session": session.key})
        return "", "stt_failed"
    words = heard.text.strip()
    return (words, None) if words else ("", "empty")


def prompt(types: tuple[str, ...]) -> str:
    """Words the recogniser should expect: the alarm types (place names join them once sites exist)."""
    return "、".join(types)
