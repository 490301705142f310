"""A voice note heard: its words, read like typed text; or the reason it was not heard.

The transcript is the text of the turn: an answer to "where?", a command, a choice — through the same
understanding as typed text. In a report, words that are no place, command or choice become the reporter's
note (``note``) rather than a question about the place: a worker who speaks describes more than they type.
Asked where, "3号楼东门，水管一直在漏水" is both (``place_and_note``): the first clause is asked about as the
place ("is «3号楼东门» the place?"), the rest is the note.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.audio import audio_type
from bot.dialogue.folding import clean
from bot.dialogue.intents import Intent, parse
from bot.dialogue.machine import LOCATION, REPORTING
from bot.dialogue.services import Services, tenant_sites
from bot.dialogue.understanding import reads_like_no_place, understand
from bot.messages import Incoming
from bot.ports import ServiceError, SttError, Tenant, VoiceRejected
from bot.session import Session
from bot.sites.model import Site

log = logging.getLogger(__name__)

# Whisper reads the last 224 tokens of a prompt and drops what comes before, and a Chinese character is one or two
# tokens: a longer prompt would push the alarm types out. Places are added while the prompt stays this short.
MAX_PROMPT_CHARS = 150
MAX_SPOKEN_PLACE_CHARS = 30  # a first clause longer than this is a description, not a place


@dataclass(frozen=True)
class Heard:
    intent: Intent  # ``voice_unheard`` with the reason ("no_stt", "too_long", "stt_failed"…) when not heard
    words: str = ""  # what was heard, to quote back before anything else
    failed: bool = False  # the speech-to-text service failed (counted like other failures)


def hear(incoming: Incoming, session: Session, services: Services) -> Heard:
    settings = services.settings
    transcript = (incoming.transcript or "").strip()
    problem = None if transcript else incoming.voice_problem  # the platform's words need no download
    if problem is None and (incoming.voice_seconds or 0) > settings.max_voice_seconds:
        problem = "too_long"
    words = transcript if problem is None else ""
    if problem is None and not words:
        home = Tenant(incoming.platform, incoming.tenant)
        words, problem = transcribe(incoming.voice, home, services, session.key)
    if problem is not None:
        return Heard(Intent("voice_unheard", problem), failed=problem == "stt_failed")
    types = settings.alarm_type_list
    intent = understand(words, session, types, services.nlu)
    if intent.name == "propose_place" and session.state in REPORTING and reads_like_no_place(intent.arg, types):
        intent = Intent("note", words)  # as heard: the folded arg would lose its "，" and "。"
        if session.state == LOCATION and _leads_with_a_place(words, types):
            intent = Intent("place_and_note", words)
    return Heard(intent, words)


_CLAUSE_END = re.compile(r"[，,。.；;！!]")
# What a spoken place has and a description rarely does: a number, or a word for a part of a building or a site.
_PLACE_WORD = re.compile(
    r"\d|[号楼层门室区栋座库厅口梯廊院站台仓]|单元|停车场|广场|商场|场地|操场|车库|通道|走廊|路|街|附近|旁边|对面"
    r"|\b(?:floor|building|gate|room|door|hall|level|block|street|road|lot|parking|garage|exit|entrance|lobby|"
    r"corridor|basement|stairs?|car ?park)\b",
    re.I,
)


def first_clause(words: str) -> tuple[str, str]:
    """ "3号楼东门，水管一直在漏水。" → ("3号楼东门", "水管一直在漏水。"): what a worker says first, and the rest."""
    parts = _CLAUSE_END.split(words, maxsplit=1)
    return parts[0].strip(), (parts[1].strip() if len(parts) == 2 else "")


_AT = re.compile(r"^(?:就在|是在|在|位置是|地点是|(?:it is |it's )?(?:at|in|on)\s)\s*", re.I)


def spoken_place(words: str) -> str:
    """The place a ``place_and_note`` starts with, as the bot keeps a place: "在三楼楼梯间，…" → "三楼楼梯间"."""
    place = first_clause(words)[0]
    return clean(_AT.sub("", place) or place)


def _leads_with_a_place(words: str, types: tuple[str, ...]) -> bool:
    """Asked where, a worker who speaks names the place first and describes after: a first clause that reads
    like a place (no command, question, type or small talk) is asked about as the place, the rest is the note."""
    place, rest = first_clause(words)
    if not place or not rest or len(place) > MAX_SPOKEN_PLACE_CHARS or not _PLACE_WORD.search(place):
        return False
    return parse(place).name == "text" and not reads_like_no_place(place, types)


def transcribe(audio: bytes | None, home: Tenant, services: Services, skey: str = "") -> tuple[str, str | None]:
    """A voice note's words, or ("", the reason it was not heard): "no_stt", "download_failed", "stt_failed",
    "empty", or what the adapter refused ("too_long", "unsupported"). ``home``'s sites help the recogniser."""
    stt = services.stt
    if stt is None:
        return "", "no_stt"
    if not audio:
        return "", "download_failed"
    settings = services.settings
    expected = prompt(settings.alarm_type_list, tenant_sites(services, home, skey))
    try:
        heard = stt.transcribe(audio, language=settings.language, prompt=expected)
    except VoiceRejected as exc:
        return "", exc.reason
    except SttError as exc:
        log.warning("voice note not transcribed: %s", exc, extra={"session": skey})
        return "", "stt_failed"
    words = heard.text.strip()
    return (words, None) if words else ("", "empty")


def prompt(types: Sequence[str], sites: Sequence[Site] = ()) -> str:
    """Words the recogniser should expect: the alarm types, then the sites' names and zones (each once) while the
    prompt stays within ``MAX_PROMPT_CHARS``."""
    text, seen = "、".join(types), set(types)
    for site in sites:
        for word in (site.name, site.zone):
            if not word or word in seen:
                continue
            longer = f"{text}、{word}" if text else word
            if len(longer) > MAX_PROMPT_CHARS:
                return text
            text = longer
            seen.add(word)
    return text


def keep_audio(audio: bytes | None, services: Services, skey: str = "") -> str | None:
    """Store a voice note's audio under its content type (a report's, a note's); its key, or None when there is no
    audio or storage is down (the words still count: only the recording is lost)."""
    if not audio:
        return None
    try:
        return services.storage.put(audio, audio_type(audio) or "application/octet-stream")
    except ServiceError as exc:
        log.warning("voice note not stored: %s", exc, extra={"session": skey})
        return None
