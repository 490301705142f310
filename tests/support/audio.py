"""Real voice notes for the tests, encoded here by PyAV (FFmpeg's own encoders, bundled in its wheel).

PyAV's FFmpeg carries ``libopencore_amrnb``, so AMR-NB is made by the same encoder family the phones use
(WeCom's 8 kHz AMR-NB, ``#!AMR\\n`` + frames); Opus in Ogg (Feishu), AAC in MP4/M4A and Opus in WebM (Slack
clips), WAV, MP3 and FLAC the same way. The sound is a 440 Hz tone: the fake speech server does not listen,
it records what arrived. SILK has no encoder anywhere here: its notes are the SILK header and random frames,
which is all the adapter reads of them (it refuses them unheard).
"""

from __future__ import annotations

import array
import io
import math

import av

# our name → (FFmpeg muxer, encoder, sample rate)
FORMATS = {
    "amr": ("amr", "libopencore_amrnb", 8000),
    "ogg": ("ogg", "libopus", 48000),
    "m4a": ("ipod", "aac", 16000),
    "mp4": ("mp4", "aac", 16000),
    "webm": ("webm", "libopus", 48000),
    "matroska": ("matroska", "libopus", 48000),
    "wav": ("wav", "pcm_s16le", 16000),
    "mp3": ("mp3", "libmp3lame", 16000),
    "flac": ("flac", "flac", 16000),
}


def tone(seconds: float, rate: int) -> bytes:
    """16-bit mono PCM of a 440 Hz tone."""
    n = int(seconds * rate)
    return array.array("h", (int(math.sin(2 * math.pi * 440 * i / rate) * 8000) for i in range(n))).tobytes()


def note(kind: str, seconds: float = 2.0) -> bytes:
    """A voice note of ``seconds`` in the container ``kind`` (a key of ``FORMATS``)."""
    muxer, codec, rate = FORMATS[kind]
    out = io.BytesIO()
    with av.open(out, "w", format=muxer) as sink:
        stream = sink.add_stream(codec, rate=rate, layout="mono")
        pcm = tone(seconds, rate)
        frame = av.AudioFrame(format="s16", layout="mono", samples=len(pcm) // 2)
        frame.planes[0].update(pcm)
        frame.sample_rate = rate
        ctx = stream.codec_context
        size = ctx.frame_size or 1024  # AAC and Opus take fixed-size frames
        resampler = av.AudioResampler(format=ctx.format.name, layout="mono", rate=rate, frame_size=size)
        for piece in resampler.resample(frame) + resampler.resample(None):
            sink.mux(stream.encode(piece))
        sink.mux(stream.encode(None))
    return out.getvalue()


def silk(prefixed: bool = True) -> bytes:
    """A WeChat SILK note's shape: (0x02) ``#!SILK_V3``, then length-prefixed frames (random: nobody decodes them)."""
    frames = b"".join(len(chunk).to_bytes(2, "little") + chunk for chunk in (bytes(range(40)),) * 25)
    return (b"\x02" if prefixed else b"") + b"#!SILK_V3" + frames + b"\xff\xff"


def probe(data: bytes) -> tuple[str, str, int, float]:
    """What bytes really are, by FFmpeg: (format name, codec, sample rate, seconds decoded)."""
    with av.open(io.BytesIO(data), "r") as source:
        stream = source.streams.audio[0]
        samples = sum(frame.samples for frame in source.decode(stream))
        rate = stream.codec_context.sample_rate
        return source.format.name, stream.codec_context.name, rate, samples / rate
