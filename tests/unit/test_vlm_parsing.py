"""What the VLM adapter makes of a model's answer: lenient about wrapping, strict about content."""

from __future__ import annotations

import json

import pytest

from bot.adapters.vlm import MAX_DESCRIPTION_CHARS, OpenAIVlm, build_vlm, extract_json, parse_analysis, parse_verdict
from bot.config import DEFAULT_ALARM_TYPES, Settings
from bot.ports import Analysis, Verdict, VlmError

TYPES = DEFAULT_ALARM_TYPES["en"]
ZH_TYPES = DEFAULT_ALARM_TYPES["zh"]
GOOD = {
    "alarm_type": "water leak",
    "description": "Water drips from the ceiling.",
    "severity": "high",
    "confidence": 0.8,
}


def analysis(answer: str | dict, types: tuple[str, ...] = TYPES, fallback: str = "other") -> Analysis:
    text = answer if isinstance(answer, str) else json.dumps(answer, ensure_ascii=False)
    return parse_analysis(text, types, fallback)


def with_(**changes: object) -> dict:
    return {**GOOD, **changes}


# -- finding the JSON -------------------------------------------------------------------------


def test_bare_json() -> None:
    assert analysis(GOOD) == Analysis("water leak", "Water drips from the ceiling.", "high", 0.8)


@pytest.mark.parametrize(
    "fence", ["```json\n{}\n```", "```\n{}\n```", "```JSON {} ```", "Here you go:\n```json\n{}\n```\nBye"]
)
def test_fenced_json(fence: str) -> None:
    assert analysis(fence.replace("{}", json.dumps(GOOD))).alarm_type == "water leak"


def test_prose_around_the_object() -> None:
    text = f"Sure! Based on the photo, my answer is {json.dumps(GOOD)} — hope that helps {{not json}}."
    assert analysis(text).description == "Water drips from the ceiling."


def test_braces_in_prose_before_the_object_are_skipped() -> None:
    text = f"<think>The {{ceiling}} is wet.</think>\n{json.dumps(GOOD)}"
    assert analysis(text).alarm_type == "water leak"


@pytest.mark.parametrize("text", ["", "   ", "I cannot see anything.", "[1, 2, 3]", '"just a string"', "{broken: json"])
def test_no_json_object_is_an_error(text: str) -> None:
    with pytest.raises(VlmError):
        analysis(text)


def test_extract_json_returns_the_first_object() -> None:
    assert extract_json('a {"x": 1} b {"y": 2}') == {"x": 1}


# -- alarm type ---------------------------------------------------------------------------------


@pytest.mark.parametrize("said", ["Water Leak", "  water leak ", "WATER LEAK", '"water leak"'])
def test_alarm_type_is_matched_case_insensitively_and_trimmed(said: str) -> None:
    assert analysis(with_(alarm_type=said)).alarm_type == "water leak"


def test_alarm_type_may_name_one_part_of_a_slashed_type() -> None:
    assert analysis(with_(alarm_type="smoke")).alarm_type == "fire/smoke"
    assert analysis(with_(alarm_type="烟雾"), ZH_TYPES, "其他").alarm_type == "火情/烟雾"


@pytest.mark.parametrize("said", ["flood", "", "water"])
def test_unknown_alarm_type_falls_back(said: str) -> None:
    assert analysis(with_(alarm_type=said)).alarm_type == "other"


def test_fallback_is_what_the_caller_says() -> None:
    assert analysis(with_(alarm_type="UFO"), ZH_TYPES, "其他").alarm_type == "其他"


def test_chinese_types_match_exactly() -> None:
    assert analysis(with_(alarm_type="漏水"), ZH_TYPES, "其他").alarm_type == "漏水"


@pytest.mark.parametrize("bad", [None, 3, ["water leak"], {"name": "water leak"}])
def test_alarm_type_not_a_string_is_an_error(bad: object) -> None:
    with pytest.raises(VlmError, match="alarm_type"):
        analysis(with_(alarm_type=bad))


def test_missing_alarm_type_is_an_error() -> None:
    answer = dict(GOOD)
    del answer["alarm_type"]
    with pytest.raises(VlmError, match="alarm_type"):
        analysis(answer)


# -- description --------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [None, "", "   ", 42, ["text"]])
def test_description_must_be_a_non_empty_string(bad: object) -> None:
    with pytest.raises(VlmError, match="description"):
        analysis(with_(description=bad))


def test_missing_description_is_an_error() -> None:
    answer = dict(GOOD)
    del answer["description"]
    with pytest.raises(VlmError, match="description"):
        analysis(answer)


def test_long_description_is_capped() -> None:
    description = analysis(with_(description="x" * 5000)).description
    assert len(description) <= MAX_DESCRIPTION_CHARS
    assert description.endswith("…")


def test_description_is_trimmed() -> None:
    assert analysis(with_(description="  leak \n")).description == "leak"


# -- severity and confidence ---------------------------------------------------------------------


@pytest.mark.parametrize(("said", "kept"), [("low", "low"), ("HIGH", "high"), (" Medium ", "medium")])
def test_severity_case_insensitive(said: str, kept: str) -> None:
    assert analysis(with_(severity=said)).severity == kept


@pytest.mark.parametrize("bad", ["critical", "", None, 3, True])
def test_bad_severity_becomes_medium(bad: object) -> None:
    assert analysis(with_(severity=bad)).severity == "medium"


def test_missing_severity_becomes_medium() -> None:
    answer = dict(GOOD)
    del answer["severity"]
    assert analysis(answer).severity == "medium"


@pytest.mark.parametrize(
    ("said", "kept"),
    [(0.3, 0.3), (1, 1.0), (0, 0.0), (7, 1.0), (-2, 0.0), ("0.25", 0.25), ("80%", 0.8), (None, 0.5), ("sure", 0.5)],
)
def test_confidence_is_clamped(said: object, kept: float) -> None:
    assert analysis(with_(confidence=said)).confidence == pytest.approx(kept)


def test_missing_confidence_is_half() -> None:
    answer = dict(GOOD)
    del answer["confidence"]
    assert analysis(answer).confidence == 0.5


def test_extra_keys_are_ignored() -> None:
    assert analysis(with_(location="basement", resolved=True)).alarm_type == "water leak"


# -- verdicts ---------------------------------------------------------------------------------


def test_verdict_bare_and_fenced() -> None:
    assert parse_verdict('{"resolved": true, "reason": "Dry now."}') == Verdict(True, "Dry now.")
    assert parse_verdict('```json\n{"resolved": false, "reason": "Still wet."}\n```') == Verdict(False, "Still wet.")


@pytest.mark.parametrize(("said", "kept"), [('"true"', True), ('"False"', False), ('" TRUE "', True)])
def test_resolved_as_a_string(said: str, kept: bool) -> None:
    assert parse_verdict(f'{{"resolved": {said}, "reason": "r"}}').resolved is kept


@pytest.mark.parametrize("bad", ["1", "0", '"yes"', "null", '"maybe"', "[]"])
def test_resolved_must_be_a_real_bool(bad: str) -> None:
    with pytest.raises(VlmError, match="resolved"):
        parse_verdict(f'{{"resolved": {bad}, "reason": "r"}}')


def test_missing_resolved_is_an_error() -> None:
    with pytest.raises(VlmError, match="resolved"):
        parse_verdict('{"reason": "looks fine"}')


@pytest.mark.parametrize(
    "bad", ['{"resolved": true}', '{"resolved": true, "reason": 5}', '{"resolved": true, "reason": null}']
)
def test_reason_must_be_a_string(bad: str) -> None:
    with pytest.raises(VlmError, match="reason"):
        parse_verdict(bad)


def test_long_reason_is_capped() -> None:
    verdict = parse_verdict(json.dumps({"resolved": False, "reason": "y" * 4000}))
    assert len(verdict.reason) <= 1000


def test_verdict_with_prose_and_non_json() -> None:
    assert parse_verdict('The answer: {"resolved": true, "reason": "ok"}. Thanks').resolved is True
    with pytest.raises(VlmError):
        parse_verdict("Yes, it is fixed.")


# -- building -----------------------------------------------------------------------------------


def test_no_base_url_means_no_vlm() -> None:
    assert build_vlm(Settings()) is None


def test_base_url_builds_the_adapter_without_network() -> None:
    vlm = build_vlm(Settings(vlm_base_url="http://127.0.0.1:9/v1"))
    assert isinstance(vlm, OpenAIVlm)
