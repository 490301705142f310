"""The VLM adapter through the real ``openai`` client, over HTTP, against a local fake server."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator

import pytest

from bot.adapters.vlm import OpenAIVlm
from bot.config import Settings
from bot.ports import Analysis, Photo, Verdict, VlmError
from tests.fakes.openai_server import FakeOpenAI
from tests.support.engine import photo

pytestmark = pytest.mark.integration

# Small upright JPEGs go to the VLM as they are; the PNG is sent as a JPEG copy (see test_vlm_photos.py).
REPORT = Photo(photo(1), "image/jpeg", url="http://127.0.0.1:1/report.jpg")
FIXED = Photo(photo(2, fmt="PNG"), "image/png", url="http://127.0.0.1:1/fixed.png")
TYPES = ("fire/smoke", "water leak", "electrical", "other")


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


def make_vlm(server: FakeOpenAI, **changes: object) -> OpenAIVlm:
    settings = Settings(vlm_base_url=server.base_url, vlm_api_key="sk-test", vlm_timeout_seconds=0.5, language="en")
    return OpenAIVlm(settings.with_(**changes))


def answer(**values: object) -> str:
    return json.dumps(values, ensure_ascii=False)


def test_analyze_happy_path(server: FakeOpenAI) -> None:
    server.respond_with(
        answer(alarm_type="Water Leak", description="Water on the floor.", severity="high", confidence=0.9)
    )
    result = make_vlm(server, vlm_model="qwen-vl-test").analyze([REPORT], TYPES, [])

    assert result == Analysis("water leak", "Water on the floor.", "high", 0.9)
    (request,) = server.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.model == "qwen-vl-test"
    assert "response_format" not in request.json
    assert [m["role"] for m in request.messages] == ["system", "user"]
    system = request.messages[0]["content"]
    for alarm_type in TYPES:
        assert alarm_type in system
    assert "JSON" in system and "English" in system
    (url,) = request.image_urls
    assert url == "data:image/jpeg;base64," + base64.b64encode(REPORT.data).decode()


def test_analyze_in_chinese_names_the_language_and_types(server: FakeOpenAI) -> None:
    server.respond_with(answer(alarm_type="漏水", description="地面有积水。", severity="medium", confidence=0.7))
    types = ("漏水", "电气故障", "其他")
    result = make_vlm(server, language="zh").analyze([REPORT], types, [])

    assert result.alarm_type == "漏水" and result.description == "地面有积水。"
    system = server.requests[0].messages[0]["content"]
    assert "Chinese" in system and all(t in system for t in types)


def test_unknown_type_from_the_model_becomes_the_fallback(server: FakeOpenAI) -> None:
    server.respond_with("```json\n" + answer(alarm_type="alien", description="Odd.", severity="low") + "\n```")
    assert make_vlm(server).analyze([REPORT], TYPES, []).alarm_type == "other"


def test_history_goes_as_text_only(server: FakeOpenAI) -> None:
    history = [
        {"role": "user", "text": "there is a leak in room 3"},
        {"role": "bot", "text": "Please send a photo."},
        {"role": "user", "text": "", "image_key": "img/abc123"},
    ]
    make_vlm(server).analyze([REPORT], TYPES, history)

    request = server.requests[0]
    assert "there is a leak in room 3" in request.text
    assert "bot: Please send a photo." in request.text
    assert "img/abc123" not in request.text
    assert len(request.image_urls) == 1  # history never adds images


def test_url_mode_sends_the_url(server: FakeOpenAI) -> None:
    make_vlm(server, vlm_image_mode="url").analyze([REPORT], TYPES, [])
    assert server.requests[0].image_urls == [REPORT.url]


def test_url_mode_without_a_url_falls_back_to_base64(server: FakeOpenAI) -> None:
    make_vlm(server, vlm_image_mode="url").analyze([Photo(REPORT.data, "image/jpeg")], TYPES, [])
    assert server.requests[0].image_urls == ["data:image/jpeg;base64," + base64.b64encode(REPORT.data).decode()]


def test_verify_fixed_sends_the_report_photo_first(server: FakeOpenAI) -> None:
    server.respond_with(answer(resolved=False, reason="The floor is still wet."))
    verdict = make_vlm(server).verify_fixed([REPORT], FIXED, "Water on the floor.", [])

    assert verdict == Verdict(False, "The floor is still wet.")
    (request,) = server.requests
    before, after = request.image_urls
    assert before.startswith("data:image/jpeg;base64,")
    assert after.startswith("data:image/jpeg;base64,")  # the PNG goes as a JPEG copy
    assert base64.b64decode(before.split(",", 1)[1]) == REPORT.data
    assert base64.b64decode(after.split(",", 1)[1]).startswith(b"\xff\xd8\xff")
    assert "Water on the floor." in request.text
    assert "resolved" in request.messages[0]["content"]


def test_verify_fixed_in_url_mode(server: FakeOpenAI) -> None:
    server.respond_with(answer(resolved="true", reason="Dry."))
    verdict = make_vlm(server, vlm_image_mode="url").verify_fixed([REPORT], FIXED, "leak", [])
    assert verdict.resolved is True
    before, after = server.requests[0].image_urls
    assert before == REPORT.url  # sent as stored: linked
    assert after.startswith("data:image/jpeg;base64,")  # a copy, and this adapter has no storage to link it from


def test_base_url_without_v1(server: FakeOpenAI) -> None:
    vlm = OpenAIVlm(Settings(vlm_base_url=server.root_url, vlm_timeout_seconds=2))
    vlm.analyze([REPORT], TYPES, [])
    request = server.requests[0]
    assert request.path == "/chat/completions"
    assert request.headers["authorization"] == "Bearer none"  # no key configured: a placeholder, not an env key


def test_timeout_is_a_vlm_error_quickly(server: FakeOpenAI) -> None:
    server.delay(4)
    started = time.monotonic()
    with pytest.raises(VlmError, match=r"0\.5 s"):
        make_vlm(server).analyze([REPORT], TYPES, [])
    # Given up long before the answer would come (4 s); the margin is for a loaded machine (1.5 s was once missed).
    assert time.monotonic() - started < 3
    assert len(server.requests) == 1  # no retries behind the user's back


def test_http_500_is_a_vlm_error(server: FakeOpenAI) -> None:
    server.fail_with(500)
    with pytest.raises(VlmError, match="500"):
        make_vlm(server).analyze([REPORT], TYPES, [])
    assert len(server.requests) == 1


def test_http_401_is_a_vlm_error(server: FakeOpenAI) -> None:
    server.fail_with(401)
    with pytest.raises(VlmError, match="401"):
        make_vlm(server).verify_fixed([REPORT], FIXED, "leak", [])


@pytest.mark.parametrize("content", ["I see a wet floor.", "", '{"alarm_type": "water leak"}', '{"description": 5}'])
def test_garbage_content_is_a_vlm_error(server: FakeOpenAI, content: str) -> None:
    server.respond_with(content)
    with pytest.raises(VlmError):
        make_vlm(server).analyze([REPORT], TYPES, [])


def test_garbage_verdict_is_a_vlm_error(server: FakeOpenAI) -> None:
    server.respond_with('{"resolved": "perhaps", "reason": "hard to say"}')
    with pytest.raises(VlmError, match="resolved"):
        make_vlm(server).verify_fixed([REPORT], FIXED, "leak", [])


def test_null_content_is_a_vlm_error(server: FakeOpenAI) -> None:
    server.respond_with(None)
    with pytest.raises(VlmError, match="empty"):
        make_vlm(server).analyze([REPORT], TYPES, [])


def test_empty_choices_is_a_vlm_error(server: FakeOpenAI) -> None:
    server.respond_raw({"id": "x", "object": "chat.completion", "created": 1, "model": "m", "choices": []})
    with pytest.raises(VlmError, match="choices"):
        make_vlm(server).analyze([REPORT], TYPES, [])


def test_body_that_is_not_json_is_a_vlm_error(server: FakeOpenAI) -> None:
    server.malformed()
    with pytest.raises(VlmError):
        make_vlm(server).analyze([REPORT], TYPES, [])


def test_unreachable_server_is_a_vlm_error() -> None:
    with FakeOpenAI() as gone:
        base_url = gone.base_url
    vlm = OpenAIVlm(Settings(vlm_base_url=base_url, vlm_timeout_seconds=0.5))
    with pytest.raises(VlmError, match="reached"):
        vlm.analyze([REPORT], TYPES, [])


def test_one_shot_failure_then_default_answer(server: FakeOpenAI) -> None:
    server.fail_with(503, times=1)
    vlm = make_vlm(server)
    with pytest.raises(VlmError):
        vlm.analyze([REPORT], TYPES, [])
    assert vlm.analyze([REPORT], TYPES, []).alarm_type == "other"  # the server's default answer


def test_on_call_hook_sees_kind_latency_and_outcome(server: FakeOpenAI) -> None:
    calls: list[tuple[str, float, bool]] = []
    settings = Settings(vlm_base_url=server.base_url, vlm_timeout_seconds=0.5)
    vlm = OpenAIVlm(settings, on_call=lambda kind, seconds, ok: calls.append((kind, seconds, ok)))
    server.fail_with(500, times=1)
    with pytest.raises(VlmError):
        vlm.analyze([REPORT], TYPES, [])
    vlm.verify_fixed([REPORT], FIXED, "leak", [])

    assert [(kind, ok) for kind, _, ok in calls] == [("analyze", False), ("verify_fixed", True)]
    assert all(seconds >= 0 for _, seconds, _ in calls)


def test_failure_log_names_kind_but_never_the_key(server: FakeOpenAI, caplog: pytest.LogCaptureFixture) -> None:
    server.fail_with(500)
    with caplog.at_level("DEBUG"), pytest.raises(VlmError):
        make_vlm(server, vlm_api_key="sk-very-secret").analyze([REPORT], TYPES, [])
    warnings = [r for r in caplog.records if r.levelname == "WARNING" and r.name == "bot.adapters.vlm"]
    assert warnings and "analyze" in warnings[0].getMessage()
    logged = caplog.text
    assert "sk-very-secret" not in logged
    assert base64.b64encode(REPORT.data).decode() not in logged


def test_concurrent_requests_are_all_answered_and_recorded(server: FakeOpenAI) -> None:
    from concurrent.futures import ThreadPoolExecutor

    server.delay(0.2)
    vlm = make_vlm(server, vlm_timeout_seconds=3)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=5) as pool:
        results = list(pool.map(lambda _: vlm.analyze([REPORT], TYPES, []), range(5)))
    assert len(results) == 5 and len(server.requests) == 5
    assert time.monotonic() - started < 0.9  # served in parallel, not one after another
