"""How Redis keeps a session: its JSON, compressed when large.

A record over ``COMPRESS_ABOVE`` bytes of JSON is stored compressed (a full history of Chinese text is
3 to 5 KB of JSON); ``record_json`` reads every form. The first byte tells them apart: ``{`` is JSON, ``L`` an
LZ4 block, anything else a zlib stream (``x``, or ``H`` for its small window).

Two codecs, because a save is on every turn's path and the memory goal is per session. LZ4 is an order of
magnitude quicker than zlib (which sets up a deflate state on each call) and shrinks the bot's templated
replies and repeated texts about as well; on varied text it keeps more. When LZ4's record comes out over
``LZ4_GOOD_ENOUGH`` bytes, the record is zlib's instead (``bench/engine_turns.py`` prints the sizes and times).
"""

from __future__ import annotations

import zlib

import lz4.block

from bot.session import Session

COMPRESS_ABOVE = 1024  # bytes of JSON; below this compression saves too little to pay for itself
LZ4_GOOD_ENOUGH = 1024  # bytes of record; past this zlib's smaller record is worth its time
_LZ4 = b"L"
# zlib with a 4 KB window instead of 32 KB: a record is a few KB, so it compresses as well, and the deflate
# state set up a call is a fraction of the size. Inflating reads the window size from the stream's header.
_WINDOW_BITS = 12
_MAX_RECORD = 1 << 20  # a record never inflates past this (a damaged one must not eat the memory)


def record_json(raw: str | bytes) -> str | bytes:
    """The JSON of a stored record, compressed or not (``zlib.error`` or ValueError if it is damaged)."""
    if isinstance(raw, str) or raw[:1] == b"{":
        return raw
    if raw[:1] == _LZ4:
        # The block starts with its size (4 bytes, little-endian): read before LZ4 allocates that much.
        if len(raw) < 5 or int.from_bytes(raw[1:5], "little") > _MAX_RECORD:
            raise ValueError("session record damaged or too large")
        try:
            text: bytes = lz4.block.decompress(raw[1:])
        except lz4.block.LZ4BlockError as exc:
            raise ValueError("session record damaged") from exc
        return text
    inflater = zlib.decompressobj()
    text = inflater.decompress(raw, _MAX_RECORD)
    if inflater.unconsumed_tail:
        raise ValueError("session record too large")
    return text


def compressed(text: bytes) -> bytes:
    """``text`` as the store keeps it: LZ4, or zlib where LZ4 leaves it large (see the module's note)."""
    quick: bytes = _LZ4 + lz4.block.compress(text, store_size=True)
    if len(quick) <= LZ4_GOOD_ENOUGH:
        return quick
    deflater = zlib.compressobj(1, zlib.DEFLATED, _WINDOW_BITS)
    thorough = deflater.compress(text) + deflater.flush()
    return thorough if len(thorough) < len(quick) else quick


def to_record(session: Session) -> bytes:
    """What the store keeps: the JSON, compressed when it is large."""
    text = session.json_bytes()
    return compressed(text) if len(text) > COMPRESS_ABOVE else text


def from_record(raw: str | bytes) -> Session:
    """A session from its stored record, compressed or not (``ValueError``/``zlib.error`` when damaged)."""
    return Session.from_json(record_json(raw))
