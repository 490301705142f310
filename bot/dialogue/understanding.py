"""A text read in the state it is sent in: understood, or the user is asked — never silently misread.

The keyword rules (``bot.dialogue.intents``) answer first. What they do not know is, in order: a type
name while a type is open; then, when a language model is configured (``Services.nlu``), its reading
among the intents this state accepts; then the rules' own line:

* waiting for the place, a text is the place — unless it reads like something else (a question, an
  objection, talk of the type, order or photo, small talk, a way out or urgency in more words, a long sentence,
  a type inside other words): then the bot asks "is «…» the place?";
* at the summary, a text that is no command asks "change the place to «…»?" (never replaces it silently);
* elsewhere it is what the state does with text it does not know (a hint, the open question again).

A yes or a no while "is «…» the place?" is open answers that question. In a flow, an order's life command with
words but no order ("暂停使用的电梯旁边") is text that answers the flow's question; while the photo of a fix is
awaited, any such command ("修好了") is text there, and the photo is asked for again.
"""

from __future__ import annotations

import logging
import re

from bot.dialogue import alarm_types
from bot.dialogue.folding import without_lead_in
from bot.dialogue.intents import Intent, normalize, parse, without_order
from bot.dialogue.machine import CLOSE_PHOTO, CONFIRM, IDLE, LOCATION, REPORTING, ROUTES, STATES, route
from bot.ports import ORDER_INTENTS, Nlu, NluError, Reading
from bot.session import Session

log = logging.getLogger(__name__)

# What each intent the model may pick means (the model reads English best); "place" is the intent
# "location" of a typed text.
MEANINGS: dict[str, str] = {
    "place": "the text says where the problem is (a building, floor, room, gate, street or landmark)",
    "choose_type": "the text names the kind of problem",
    "confirm": "yes / agreed / go ahead / submit it",
    "deny": "no / that is wrong / something must change",
    "cancel": "give up what is in progress",
    "help": "asks what the bot can do or how to use it",
    "status": "asks what is in progress now",
    "my_orders": "asks for the list of their work orders",
    "order_query": "asks about one work order",
    "close": "wants to close (finish) a work order",
    "withdraw": "wants to withdraw a work order they reported",
    "retry": "asks to analyse the photo again",
}
_AS_ROUTED = {"place": "location"}

# Text that reads like a question, an objection or talk about the report rather than a place; or like small talk,
# a way out, the photo or how urgent it is, in more words than the keywords ("谢谢你们", "稍等我看看", "我要取消").
_NOT_A_PLACE = re.compile(
    r"[?？]|[吗呢嘛]$|^(?:怎么|为什么|什么|如何|能不能|可以吗|不是|不对|错了|没有)|类型|工单|照片"
    r"|谢|稍等|等一下|等等|你好|您好|收到|不在现场|取消|不报|重拍|重新拍|换一张|换张|发错|拍错|传错"
    r"|很急|着急|紧急|加急|尽快|快点|赶紧"
    r"|^(?:how|what|why|when|who|can|could|is|are|do|does|no|not|hi|hey|hello|ok|okay|yes|yeah|sure)\b"
    r"|\b(?:type|order|photo|picture|thanks?|thank you|wait|hold on|cancel|stop|urgent|asap|hurry|retake)\b",
    re.I,
)
MAX_PLACE_CHARS = 60  # longer than any place people type: a description, pasted text


def understand(text: str, session: Session, types: tuple[str, ...], nlu: Nlu | None) -> Intent:
    """What ``text`` means in ``session``'s state (the session is only read)."""
    intent = parse(text)
    state, pending = session.state, session.pending
    if pending.get("proposed_place") and intent.name in ("confirm", "deny"):
        return Intent("accept_place" if intent.name == "confirm" else "reject_place")
    demoted = without_order(intent) and (state == CLOSE_PHOTO or (state != IDLE and intent.arg.strip()))
    if demoted:
        # In a flow, a move's word with more words after it and no order answers the flow's question ("暂停使用的电梯
        # 旁边" is a place, not a hold); while the fix photo is awaited, "修好了" asks for the photo again.
        intent = Intent("text", normalize(text))
    if intent.name != "text":
        return intent
    said = intent.arg
    if pending.get("reopen_id"):  # "not fixed" asked what is still wrong: these words are the answer
        return Intent("reopen", f"{pending['reopen_id']} {said}")
    if state in REPORTING and (typed := alarm_types.typed_type(said, types)):
        return Intent("choose_type", typed)
    if nlu is not None and not demoted and (read := _model_reading(nlu, said, state, types)) is not None:
        return read
    said = without_lead_in(said) if state in REPORTING else said  # "好的，3号楼东门": the place is "3号楼东门"
    if state == LOCATION:
        return Intent("propose_place" if reads_like_no_place(said, types) else "location", said)
    if state == CONFIRM:
        return Intent("propose_place", said)
    return intent


def reads_like_no_place(said: str, types: tuple[str, ...]) -> bool:
    """A question, an objection, talk of the type, order or photo, a long sentence, a type inside other words."""
    return bool(_NOT_A_PLACE.search(said)) or len(said) > MAX_PLACE_CHARS or alarm_types.mentions_type(said, types)


def _accepted(state: str) -> dict[str, str]:
    fallback = ROUTES[state]["*"]
    return {
        name: meaning
        for name, meaning in MEANINGS.items()
        if route(state, _AS_ROUTED.get(name, name)) != fallback or name in ROUTES["*"]
    }


# The intents the model may pick in each state: those the table does something with there (read once).
_ACCEPTED = {state: _accepted(state) for state in STATES}


def accepted(state: str) -> dict[str, str]:
    return _ACCEPTED[state]


def _model_reading(nlu: Nlu, said: str, state: str, types: tuple[str, ...]) -> Intent | None:
    """The model's reading as an intent, or None when it is unsure, down or slow (the rules' line then holds)."""
    try:
        reading = nlu.read(said, _ACCEPTED[state], types)
    except NluError as exc:
        log.warning("language model unavailable: %s", exc)
        return None
    return _as_intent(reading, said)


def _as_intent(reading: Reading, said: str) -> Intent | None:
    name = reading.intent
    if name == "place":
        return Intent("location", reading.place or said)
    if name == "choose_type":
        return Intent("choose_type", reading.alarm_type) if reading.alarm_type else None
    if name in ORDER_INTENTS:
        return Intent(name, reading.order_ref.upper())
    if name in MEANINGS:
        return Intent(name)
    return None  # "unsure", or a name the adapter let through that this version does not know
