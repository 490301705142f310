"""Voice-note bytes as the domain needs them: what kind of audio they are (stored with the order by type)."""

from __future__ import annotations

# (prefix, offset, content type), tried in order; ``ftyp`` boxes (m4a/mp4) sit at byte 4.
_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"#!AMR\n", 0, "audio/amr"),
    (b"#!SILK_V3", 0, "audio/silk"),
    (b"\x02#!SILK_V3", 0, "audio/silk"),  # WeChat's variant: one byte before the tag
    (b"OggS", 0, "audio/ogg"),
    (b"fLaC", 0, "audio/flac"),
    (b"ID3", 0, "audio/mpeg"),
    (b"\x1a\x45\xdf\xa3", 0, "audio/webm"),
    (b"ftyp", 4, "audio/mp4"),
)


def audio_type(data: bytes) -> str | None:
    """The content type of a voice note from its first bytes, or None when it is no audio we know."""
    for prefix, offset, content_type in _SIGNATURES:
        if data[offset : offset + len(prefix)] == prefix:
            return content_type
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "audio/wav"
    if len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0:  # an MPEG audio frame without ID3 tags
        return "audio/mpeg"
    return None
