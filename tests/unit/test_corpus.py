"""The corpus (``tests/support/corpus.py``): every utterance is understood or asked about, model off and on.

Two checks per line: what the understanding makes of it (intent and slot), and what the engine then does —
above all that nothing but a place (typed as one, or confirmed) ever becomes the report's place.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence

import pytest

from bot.config import DEFAULT_ALARM_TYPES
from bot.dialogue.engine import Conversation
from bot.dialogue.folding import clean
from bot.dialogue.intents import LIFE_INTENTS, parse
from bot.dialogue.understanding import understand
from bot.ports import UNSURE, Reading
from bot.replies import say
from bot.session import Session
from tests.support.admin import report_order
from tests.support.corpus import CORPUS, MODEL_READS
from tests.support.engine import Chat, photo

TYPES = DEFAULT_ALARM_TYPES["zh"]
READS = {clean(text): read for text, read in MODEL_READS.items()}  # the model is handed folded text
ASKS = frozenset({"propose_place", "unclear", "unsure", "deny"})  # the bot answers with a question
# commands that name an order: without it, the bot asks which
ORDER_COMMANDS = frozenset({"order_query", "withdraw", "close", "claim", *(name for name, _ in LIFE_INTENTS)})
PROPOSED = "二楼东侧"  # the text "change the place to «…»?" asks about in the place_check situation
SITUATION_STATE = {
    "idle": "idle",
    "type": "waiting_location",
    "place": "waiting_location",
    "summary": "waiting_confirm",
    "place_check": "waiting_confirm",
    "close": "waiting_close_photo",
}


class CorpusModel:
    """A language model that reads the corpus as a good one would, validated as the adapter validates."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def read(self, text: str, intents: Mapping[str, str], alarm_types: Sequence[str]) -> Reading:
        self.asked.append(text)
        intent, slot = READS.get(text, ("unsure", ""))
        if intent not in intents:
            return UNSURE
        if intent == "place":
            return Reading(intent, place=slot)
        if intent == "choose_type":
            return Reading(intent, alarm_type=slot) if slot in alarm_types else UNSURE
        if intent in ("order_query", "close", "withdraw") and not slot:
            return UNSURE
        return Reading(intent, order_ref=slot)


def meaning(text: str, situation: str, model: CorpusModel | None) -> str:
    session = Session(key="test:t1:u1", state=SITUATION_STATE[situation])
    if situation in ("place", "summary", "place_check"):
        session.pending["alarm_type"] = "漏水"
    if situation in ("summary", "place_check"):
        session.pending["location"] = {"label": "3号楼东门"}
    if situation == "place_check":
        session.pending["proposed_place"] = PROPOSED
    intent = understand(text, session, TYPES, model)
    return f"{intent.name}:{intent.arg}" if intent.arg else intent.name


@pytest.mark.parametrize(("situation", "text", "off", "on"), CORPUS)
def test_the_rules_alone(situation: str, text: str, off: str, on: str | None) -> None:
    assert meaning(text, situation, None) == off


@pytest.mark.parametrize(("situation", "text", "off", "on"), CORPUS)
def test_with_a_model(situation: str, text: str, off: str, on: str | None) -> None:
    model = CorpusModel()
    assert meaning(text, situation, model) == (on or off)
    if parse(text).name != "text":
        assert model.asked == []  # the rules understood it: the model is never asked


def test_the_corpus_is_large_and_counts_its_lines(capsys: pytest.CaptureFixture[str]) -> None:
    assert len(CORPUS) >= 150
    assert len({(situation, text) for situation, text, _, _ in CORPUS}) == len(CORPUS)  # no line twice
    figures: Counter[str] = Counter()
    for situation, text, off, on in CORPUS:
        model = CorpusModel()
        name, _, arg = off.partition(":")
        if name in ASKS or (name in ORDER_COMMANDS and not arg.partition(" ")[0]):
            figures["asked, model off"] += 1
        elif name != "text" and (parse(text).name != "text" or name == "choose_type"):
            figures["understood by the rules"] += 1
        elif name == "location":
            figures["taken as the place asked for (echoed)"] += 1
        else:
            figures["a hint (idle, waiting for a photo)"] += 1
        meaning(text, situation, model)
        if model.asked and on and on != off:
            figures["read by the model instead"] += 1
    with capsys.disabled():
        print(f"\ncorpus: {len(CORPUS)} utterances; " + "; ".join(f"{k}: {v}" for k, v in sorted(figures.items())))
    assert figures["understood by the rules"] > figures["asked, model off"] > 0


# -- the engine: nothing but a place becomes the place ------------------------------------------------------
def reach(chat: Chat, situation: str) -> None:
    if situation == "close":
        order_id = report_order(chat, seed=40)
        assert chat.text(f"结单 {order_id}").state == "waiting_close_photo"
        return
    if situation == "idle":
        return
    chat.image(photo(41))
    if situation == "type":
        return
    chat.tap("漏水")
    if situation == "place":
        return
    assert chat.text("3号楼东门").state == "waiting_confirm"
    if situation == "place_check":
        assert chat.text(PROPOSED).waiting_for == "place_check"  # a text the fake model is not sure of either


def place_of(chat: Chat) -> object:
    session = chat.engine.services.sessions  # type: ignore[attr-defined]
    with session.begin(chat.key) as stored:
        return (stored.session.pending.get("location") or {}).get("label") if stored.session else None


@pytest.mark.parametrize("with_model", [False, True], ids=["model off", "fake model"])
@pytest.mark.parametrize(("situation", "text", "off", "on"), CORPUS)
def test_the_engine_never_takes_other_words_as_the_place(
    make_engine: Callable[..., Conversation], situation: str, text: str, off: str, on: str | None, with_model: bool
) -> None:
    chat = Chat(make_engine(nlu=CorpusModel() if with_model else None))
    reach(chat, situation)
    before = place_of(chat)
    result = chat.text(text)
    said = [reply.text for reply in result.replies]
    assert said and say("zh", "internal_error") not in said
    name, _, arg = (on if with_model and on else off).partition(":")
    after = place_of(chat)
    if name == "location":
        assert after == arg
    elif name == "accept_place":
        assert after == PROPOSED
    elif name == "change_place":
        assert after is None and result.waiting_for == "location"  # "where?" again
    elif name == "confirm" and situation == "summary":
        assert result.order_id and result.state == "idle"
    elif name != "cancel":
        assert after == before, f"{text!r} changed the place from {before!r} to {after!r}"
    if name == "propose_place":
        assert result.waiting_for == "place_check" and len(result.choices) == 3  # yes / no / cancel
