"""Voice notes made ready for a transcription API: the container sniffed from the bytes, the length decoded, and
what the API does not take converted, with PyAV (FFmpeg's own decoders, bundled in its wheels).

Why sniff rather than trust the platform: WeChat paths deliver SILK named ``.amr``, Slack labels an m4a clip
``video/mp4``, and the API reads the container from the file name's extension (MP4 bytes named ``.ogg`` are
refused). Why decode the whole note rather than read the header's length: a WebM recorded in a browser
carries none, and a header can be wrong; a note is at most a few minutes, decoded in milliseconds.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from bot.audio import sniff_audio
from bot.ports import VoiceRejected

log = logging.getLogger(__name__)

# What OpenAI-compatible transcription APIs take (flac, mp3, mp4, mpeg, mpga, m4a, ogg, wav, webm), by our
# container name → the file name the API reads it by. Anything else we can decode (AMR) becomes WAV.
ACCEPTED = {
    "ogg": "voice.ogg",
    "wav": "voice.wav",
    "m4a": "voice.m4a",
    "mp4": "voice.mp4",
    "webm": "voice.webm",
    "mp3": "voice.mp3",
    "flac": "voice.flac",
}
WAV_RATE = 16_000  # what speech models hear at; AMR-NB is 8 kHz, so nothing is lost
_FFMPEG_FORMAT = {"amr": "amr"}  # a hint where probing short bytes is not sure; the others are probed


@dataclass(frozen=True)
class PreparedAudio:
    """What is sent: ``data`` named ``filename`` (the extension tells the API the container), its length."""

    data: bytes = field(repr=False)
    filename: str
    seconds: float
    container: str  # as sniffed: "amr", "ogg", "m4a"…
    converted: bool = False


def prepare(data: bytes, max_seconds: float) -> PreparedAudio:
    """The note as the API takes it. Raises VoiceRejected: "unsupported" (SILK, unknown or undecodable
    bytes), "too_long" (over ``max_seconds``, with its length when known)."""
    container = sniff_audio(data)
    if container is None or container == "silk":  # FFmpeg has no SILK decoder
        raise VoiceRejected("unsupported")
    convert = container not in ACCEPTED
    try:
        seconds, wav = _decode(data, container, max_seconds, convert)
    except VoiceRejected:
        raise
    except Exception as exc:  # anything FFmpeg says about bytes it cannot read: the note is unreadable
        log.info("voice note not decodable (%s, %s)", container, type(exc).__name__)
        raise VoiceRejected("unsupported") from None
    if wav is not None:
        return PreparedAudio(wav, "voice.wav", seconds, container, converted=True)
    return PreparedAudio(data, ACCEPTED[container], seconds, container)


def to_wav(data: bytes, max_seconds: float = 600.0) -> bytes:
    """A stored voice note as mono WAV at its own rate, for a browser that cannot play its container (AMR).
    Raises VoiceRejected for bytes no decoder reads or a note over ``max_seconds``."""
    container = sniff_audio(data)
    if container is None or container == "silk":
        raise VoiceRejected("unsupported")
    try:
        return _decode(data, container, max_seconds, True, rate=None)[1] or b""
    except VoiceRejected:
        raise
    except Exception as exc:  # FFmpeg's word on bytes it cannot read
        raise VoiceRejected("unsupported") from exc


def _decode(
    data: bytes, container: str, max_seconds: float, convert: bool, rate: int | None = WAV_RATE
) -> tuple[float, bytes | None]:
    """Decode every frame: (its length in seconds, the mono WAV when ``convert``: at ``rate``, None: the note's)."""
    import av  # here, not at the top: FFmpeg's libraries load only in a process that hears voice notes

    with av.open(io.BytesIO(data), "r", format=_FFMPEG_FORMAT.get(container)) as source:
        if not source.streams.audio:
            raise VoiceRejected("unsupported")
        stream = source.streams.audio[0]
        declared = source.duration / av.time_base if source.duration else None
        if declared is not None and declared > max_seconds:  # refused before decoding what will not be sent
            raise VoiceRejected("too_long", round(declared, 1))
        if not convert:
            seconds = _length(_frames(source, stream), max_seconds, declared)
            return seconds, None
        out = io.BytesIO()
        rate = rate or stream.codec_context.sample_rate or WAV_RATE
        with av.open(out, "w", format="wav") as sink:
            target = sink.add_stream("pcm_s16le", rate=rate, layout="mono")
            resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
            samples = 0
            for frame in _frames(source, stream):
                samples += frame.samples
                if samples / frame.sample_rate > max_seconds:
                    raise VoiceRejected("too_long", round(declared or samples / frame.sample_rate, 1))
                for piece in resampler.resample(frame):
                    sink.mux(target.encode(piece))
            if samples == 0:
                raise VoiceRejected("unsupported")
            for piece in resampler.resample(None):
                sink.mux(target.encode(piece))
            sink.mux(target.encode(None))
        return samples / (stream.codec_context.sample_rate or WAV_RATE), out.getvalue()


def _frames(source: Any, stream: Any) -> Iterator[Any]:
    """The decoded frames; a note cut short or with trailing junk keeps what was decoded before the damage."""
    import av

    decoded = 0
    try:
        for frame in source.decode(stream):
            if frame.sample_rate:
                decoded += 1
                yield frame
    except av.FFmpegError as exc:
        if decoded == 0:
            raise
        log.info("voice note damaged after %d frames (%s); the rest is dropped", decoded, type(exc).__name__)


def _length(frames: Iterator[Any], max_seconds: float, declared: float | None) -> float:
    seconds = 0.0
    for frame in frames:
        seconds += frame.samples / frame.sample_rate
        if seconds > max_seconds:
            raise VoiceRejected("too_long", round(declared or seconds, 1))
    if seconds == 0:
        raise VoiceRejected("unsupported")
    return seconds
