"""Voice-note bytes as the domain and its adapters read them: the container, from the first bytes alone.

The speech adapter (``bot.adapters.audio``) names the file it sends by it; a report keeps the note in storage
under its content type (``audio_type``).
"""

from __future__ import annotations

_CONTENT_TYPES = {
    "amr": "audio/amr",
    "ogg": "audio/ogg",
    "wav": "audio/wav",
    "m4a": "audio/mp4",
    "mp4": "audio/mp4",
    "webm": "audio/webm",
    "matroska": "audio/webm",
    "mp3": "audio/mpeg",
    "flac": "audio/flac",
}


def sniff_audio(data: bytes) -> str | None:
    """The container of a voice note by its magic bytes: "amr", "silk", "ogg", "wav", "m4a", "mp4", "webm",
    "matroska", "mp3", "flac", or None."""
    head = data[:64]
    if head.startswith((b"#!AMR\n", b"#!AMR-WB\n")):
        return "amr"
    if head.startswith(b"#!SILK_V3") or head.startswith(b"\x02#!SILK_V3"):  # WeChat prefixes a 0x02 byte
        return "silk"
    if head.startswith(b"OggS"):
        return "ogg"
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "wav"
    if head[4:8] == b"ftyp":
        return "m4a" if head[8:12] == b"M4A " else "mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "webm" if b"webm" in data[:64] else "matroska"
    if head.startswith(b"fLaC"):
        return "flac"
    if head.startswith(b"ID3") or _mp3_frame(head):
        return "mp3"
    return None


def _mp3_frame(head: bytes) -> bool:
    """An MPEG audio frame header: 11 sync bits, a version that exists, layer I-III (AAC's ADTS has layer 0)."""
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version, layer, bitrate = (head[1] >> 3) & 3, (head[1] >> 1) & 3, head[2] >> 4
    return version != 1 and layer != 0 and bitrate not in (0, 15)


def audio_type(data: bytes) -> str | None:
    """The content type a voice note is stored under, or None for bytes that are no audio we know (or SILK)."""
    container = sniff_audio(data)
    return _CONTENT_TYPES.get(container) if container else None
