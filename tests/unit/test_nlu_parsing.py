"""The language model's answers for free text, validated without a server; its settings and their defaults."""

from __future__ import annotations

import json

import pytest

from bot.adapters.nlu import MAX_PLACE_CHARS, build_nlu, parse_reading
from bot.config import Settings, SettingsError
from bot.ports import UNSURE, NluError, Reading

INTENTS = {"place": "where", "choose_type": "the kind", "confirm": "yes", "order_query": "one order", "help": "?"}
TYPES = ("漏水", "电气故障", "其他")


def answer(**values: object) -> str:
    return json.dumps(values, ensure_ascii=False)


@pytest.mark.parametrize(
    ("text", "reading"),
    [
        (answer(intent="place", place="3号楼东门", confidence=0.9), Reading("place", place="3号楼东门")),
        ("```json\n" + answer(intent="confirm", confidence=0.95) + "\n```", Reading("confirm")),
        ("Sure! " + answer(intent="help") + " hope that helps", Reading("help")),  # no confidence: taken
        (answer(intent="choose_type", alarm_type="漏水", confidence=0.8), Reading("choose_type", alarm_type="漏水")),
        (answer(intent="order_query", order_ref="#4tblx", confidence=0.9), Reading("order_query", order_ref="4tblx")),
        (
            answer(intent="order_query", order_ref="WO-20261206-ABCDE"),
            Reading("order_query", order_ref="WO-20261206-ABCDE"),
        ),
        # refused: not offered in this state, unknown, unsure, doubtful, missing or bad slots, wrong value types
        (answer(intent="cancel", confidence=0.99), UNSURE),
        (answer(intent="launch_rocket"), UNSURE),
        (answer(intent="unsure"), UNSURE),
        (answer(intent="place", place="B2", confidence=0.3), UNSURE),
        (answer(intent="place", place="   "), UNSURE),
        (answer(intent="place", place=["B2"]), UNSURE),
        (answer(intent="choose_type", alarm_type="漏电"), UNSURE),
        (answer(intent="choose_type"), UNSURE),
        (answer(intent="order_query", order_ref="please look at my last one"), UNSURE),
        (answer(intent="order_query"), UNSURE),
        (answer(intent=7), UNSURE),
        (answer(intent="confirm", confidence="high"), UNSURE),
        (answer(intent="confirm", confidence=True), UNSURE),
    ],
)
def test_answers_are_validated_like_the_vlms(text: str, reading: Reading) -> None:
    assert parse_reading(text, INTENTS, TYPES) == reading


def test_a_place_is_capped_and_cleaned_of_control_characters() -> None:
    reading = parse_reading(answer(intent="place", place="东门\x00\x1b" + "楼" * 500), INTENTS, TYPES)
    assert reading.place.startswith("东门楼") and len(reading.place) == MAX_PLACE_CHARS and "\x00" not in reading.place


def test_a_type_answered_in_other_case_is_the_listed_spelling() -> None:
    reading = parse_reading(answer(intent="choose_type", alarm_type="WATER LEAK"), INTENTS, ("water leak", "other"))
    assert reading == Reading("choose_type", alarm_type="water leak")


@pytest.mark.parametrize("text", ["", "   ", "I think it is the east gate", "[1, 2]"])
def test_an_answer_without_a_json_object_is_an_error(text: str) -> None:
    with pytest.raises(NluError):
        parse_reading(text, INTENTS, TYPES)


# -- settings: its own, else the VLM's; off -----------------------------------------------------------------
def test_without_a_vlm_or_its_own_endpoint_there_is_no_model() -> None:
    assert Settings().nlu_endpoint is None and build_nlu(Settings()) is None


def test_the_vlms_endpoint_key_and_model_are_the_default() -> None:
    settings = Settings(vlm_base_url="http://vlm.local/v1", vlm_api_key="sk-vlm", vlm_model="qwen-vl")
    assert settings.nlu_endpoint == ("http://vlm.local/v1", "sk-vlm", "qwen-vl")
    assert settings.with_(nlu_model="qwen-turbo").nlu_endpoint == ("http://vlm.local/v1", "sk-vlm", "qwen-turbo")


def test_its_own_endpoint_never_gets_the_vlms_key() -> None:
    settings = Settings(vlm_base_url="http://vlm.local/v1", vlm_api_key="sk-vlm", nlu_base_url="http://nlu.local/v1")
    assert settings.nlu_endpoint == ("http://nlu.local/v1", "", "gpt-4o-mini")


def test_off_turns_it_off_even_with_a_vlm() -> None:
    assert Settings(vlm_base_url="http://vlm.local/v1", nlu_base_url="off").nlu_endpoint is None


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"NLU_TIMEOUT_SECONDS": "0"}, "NLU_TIMEOUT_SECONDS"),
        ({"NLU_TIMEOUT_SECONDS": "600"}, "NLU_TIMEOUT_SECONDS"),
        ({"NLU_TIMEOUT_SECONDS": "soon"}, "NLU_TIMEOUT_SECONDS"),
        ({"NLU_BASE_URL": "nlu.local"}, "NLU_BASE_URL"),
    ],
)
def test_a_bad_setting_is_named(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        Settings.from_env(env)


def test_the_key_is_a_secret_kept_out_of_logs() -> None:
    settings = Settings(nlu_base_url="http://nlu.local/v1", nlu_api_key="sk-nlu-secret-1")
    assert "sk-nlu-secret-1" not in repr(settings) and "sk-nlu-secret-1" in settings.secret_values
