"""The speech-to-text adapter through the real ``openai`` client, over HTTP, against the local fake OpenAI server,
which records the file name, the real format of the bytes (probed by FFmpeg), the model, language and prompt."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from bot.adapters.stt import OpenAIStt, build_stt
from bot.config import Settings
from bot.ports import SttError, Transcript, VoiceRejected
from tests.fakes.openai_server import DEFAULT_TRANSCRIPT, FakeOpenAI
from tests.support.audio import note, probe, silk

pytestmark = pytest.mark.integration


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


def make_stt(server: FakeOpenAI, **changes: object) -> OpenAIStt:
    settings = Settings(stt_base_url=server.base_url, stt_api_key="sk-stt-secret", stt_timeout_seconds=1.0)
    return OpenAIStt(settings.with_(**changes))


def test_amr_is_sent_as_16_khz_wav_with_model_language_and_prompt(server: FakeOpenAI) -> None:
    result = make_stt(server, stt_model="sensevoice-small").transcribe(
        note("amr", 3.0), language="zh", prompt="漏水 火情 三号楼"
    )

    assert result == Transcript(DEFAULT_TRANSCRIPT, pytest.approx(3.0, abs=0.1))
    (request,) = server.requests
    assert request.path == "/v1/audio/transcriptions"
    assert request.headers["authorization"] == "Bearer sk-stt-secret"
    assert request.file_name == "voice.wav"
    assert probe(request.file_bytes)[:3] == ("wav", "pcm_s16le", 16000)
    assert request.form["model"] == "sensevoice-small"
    assert request.form["language"] == "zh"
    assert request.form["prompt"] == "漏水 火情 三号楼"


@pytest.mark.parametrize(
    ("kind", "name", "codec"),
    [("ogg", "voice.ogg", "opus"), ("m4a", "voice.m4a", "aac"), ("webm", "voice.webm", "opus")],
)
def test_what_the_api_takes_is_sent_unchanged_named_by_its_container(
    server: FakeOpenAI, kind: str, name: str, codec: str
) -> None:
    """Feishu's Ogg/Opus, Slack's m4a and WebM clips: the extension is what the API reads the container by."""
    data = note(kind, 2.0)
    server.transcribe_as("The exit on floor two is blocked.")
    result = make_stt(server).transcribe(data, language="en", prompt="")

    assert result.text == "The exit on floor two is blocked."
    (request,) = server.requests
    assert request.file_name == name and request.file_bytes == data
    assert probe(request.file_bytes)[1] == codec
    assert request.form["language"] == "en" and "prompt" not in request.form
    assert request.form["model"] == "whisper-1"


@pytest.mark.parametrize("data", [silk(), b"not audio at all" * 50])
def test_silk_and_garbage_are_refused_without_a_request(server: FakeOpenAI, data: bytes) -> None:
    with pytest.raises(VoiceRejected) as refused:
        make_stt(server).transcribe(data, language="zh", prompt="")
    assert refused.value.reason == "unsupported"
    assert server.requests == []


def test_too_long_is_refused_with_its_length_and_no_request(server: FakeOpenAI) -> None:
    with pytest.raises(VoiceRejected) as refused:
        make_stt(server, max_voice_seconds=3).transcribe(note("ogg", 5.0), language="zh", prompt="")
    assert refused.value.reason == "too_long" and refused.value.seconds == pytest.approx(5.0, abs=0.1)
    assert server.requests == []


def test_a_slow_server_is_an_stt_error_within_the_timeout(server: FakeOpenAI) -> None:
    server.delay(5)
    started = time.monotonic()
    with pytest.raises(SttError, match=r"within 0\.5 s"):
        make_stt(server, stt_timeout_seconds=0.5).transcribe(note("ogg"), language="zh", prompt="")
    assert time.monotonic() - started < 2.5  # one attempt, no retry
    assert len(server.requests) == 1


@pytest.mark.parametrize("status", [500, 401, 413])
def test_an_http_error_is_an_stt_error_without_the_key(server: FakeOpenAI, status: int) -> None:
    server.fail_with(status)
    with pytest.raises(SttError) as failed:
        make_stt(server).transcribe(note("ogg"), language="zh", prompt="")
    assert f"HTTP {status}" in str(failed.value) and "sk-stt-secret" not in str(failed.value)
    assert len(server.requests) == 1  # max_retries=0


@pytest.mark.parametrize("body", [{"text": ""}, {"text": "   "}, b"<html>gateway</html>"])
def test_an_empty_or_unreadable_answer_is_an_stt_error(server: FakeOpenAI, body: object) -> None:
    server.respond_raw(body)  # type: ignore[arg-type]
    with pytest.raises(SttError):
        make_stt(server).transcribe(note("ogg"), language="zh", prompt="")


def test_an_unreachable_server_is_an_stt_error() -> None:
    with FakeOpenAI() as gone:
        url = gone.base_url
    with pytest.raises(SttError, match="could not be reached"):
        OpenAIStt(Settings(stt_base_url=url, stt_timeout_seconds=1.0)).transcribe(note("ogg"), language="zh", prompt="")


def test_build_stt_is_none_without_a_base_url(server: FakeOpenAI) -> None:
    assert build_stt(Settings()) is None
    assert isinstance(build_stt(Settings(stt_base_url=server.base_url)), OpenAIStt)
