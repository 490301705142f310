"""The audio adapter on real notes encoded by PyAV (``tests.support.audio``): each container sniffed and named
by its real type, AMR made WAV, SILK and junk refused unheard, a long note refused with its length."""

from __future__ import annotations

import pytest

from bot.adapters.audio import ACCEPTED, prepare
from bot.audio import sniff_audio
from bot.ports import VoiceRejected
from tests.support.audio import FORMATS, note, probe, silk

# our sniffed name → the file name the API gets
NAMES = {
    "ogg": "voice.ogg",
    "m4a": "voice.m4a",
    "mp4": "voice.mp4",
    "webm": "voice.webm",
    "wav": "voice.wav",
    "mp3": "voice.mp3",
    "flac": "voice.flac",
}


@pytest.mark.parametrize("kind", sorted(FORMATS))
def test_each_container_is_sniffed_from_its_bytes(kind: str) -> None:
    assert sniff_audio(note(kind)) == kind


def test_silk_is_sniffed_with_and_without_wechats_leading_byte() -> None:
    assert sniff_audio(silk(prefixed=True)) == "silk"
    assert sniff_audio(silk(prefixed=False)) == "silk"


@pytest.mark.parametrize(
    "data", [b"", b"hello world", b"<html><body>Sign in</body></html>", b'{"errcode": 40007}', b"\xff\xf1\x50\x80"]
)
def test_junk_and_error_pages_and_aac_adts_are_no_known_container(data: bytes) -> None:
    assert sniff_audio(data) is None


@pytest.mark.parametrize("kind", sorted(NAMES))
def test_an_accepted_container_is_sent_as_it_came_named_by_its_type(kind: str) -> None:
    data = note(kind, 3.0)
    ready = prepare(data, max_seconds=120)
    assert ready.filename == NAMES[kind] == ACCEPTED[kind]
    assert ready.data == data and not ready.converted
    assert ready.seconds == pytest.approx(3.0, abs=0.15)


def test_amr_becomes_16_khz_mono_wav_of_the_same_length() -> None:
    ready = prepare(note("amr", 4.0), max_seconds=120)
    assert ready.converted and ready.container == "amr" and ready.filename == "voice.wav"
    assert ready.data.startswith(b"RIFF") and ready.data[8:12] == b"WAVE"
    fmt, codec, rate, seconds = probe(ready.data)
    assert (fmt, codec, rate) == ("wav", "pcm_s16le", 16000)
    assert seconds == pytest.approx(4.0, abs=0.1) == pytest.approx(ready.seconds, abs=0.1)


def test_a_matroska_note_the_api_does_not_take_becomes_wav() -> None:
    ready = prepare(note("matroska"), max_seconds=120)
    assert ready.filename == "voice.wav" and probe(ready.data)[0] == "wav"


@pytest.mark.parametrize("data", [silk(), silk(prefixed=False), b"\x00" * 2000, b"#!AMR\n" + b"\xff" * 10, b"OggS"])
def test_silk_garbage_and_broken_notes_are_unsupported(data: bytes) -> None:
    with pytest.raises(VoiceRejected) as refused:
        prepare(data, max_seconds=120)
    assert refused.value.reason == "unsupported"


@pytest.mark.parametrize("kind", ["amr", "ogg", "m4a", "webm", "wav"])
def test_a_note_over_the_limit_is_too_long_with_its_length(kind: str) -> None:
    with pytest.raises(VoiceRejected) as refused:
        prepare(note(kind, 6.0), max_seconds=5)
    assert refused.value.reason == "too_long"
    assert refused.value.seconds is not None and refused.value.seconds > 5


def test_a_note_cut_short_keeps_what_was_recorded() -> None:
    """A download that lost its tail (or a note with junk after it) is still heard, for what it holds."""
    data = note("amr", 4.0)
    ready = prepare(data[: len(data) // 2] + b"\x00garbage", max_seconds=120)
    assert 1.0 < ready.seconds < 3.0 and ready.filename == "voice.wav"
