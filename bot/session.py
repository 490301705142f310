"""The session record: state, pending fields and capped history, (de)serialised as versioned JSON.

In Redis a record over ``COMPRESS_ABOVE`` bytes of JSON is stored compressed (a full history of Chinese text is
3 to 5 KB of JSON); ``record_json`` reads every form. The first byte tells them apart: ``{`` is JSON, ``L`` an
LZ4 block, anything else a zlib stream (``x``, or ``H`` for its small window).

Two codecs, because a save is on every turn's path and the memory goal is per session. LZ4 takes some 2 µs
where zlib takes 20 to 45 (zlib sets up a deflate state on each call), and it shrinks the bot's templated
replies and repeated texts about as well. On varied text it keeps some two thirds where zlib keeps under a
half: when LZ4's record comes out over ``LZ4_GOOD_ENOUGH`` bytes, the record is zlib's instead.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass, field
from typing import Any

import lz4.block
import orjson

from bot.dialogue.machine import State

SCHEMA_VERSION = 1
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


@dataclass
class Session:
    """One user's conversation. ``pending`` carries a report (image_key, image_type, alarm_type,
    description, severity, confidence, analysis_failed, location, alarm_id) or a close (order_id)
    between turns; cancel and reset clear it. ``history`` keeps the last turns, capped. ``offer``
    is the question whose buttons are open (``bot.dialogue.choices``), or None."""

    key: str
    state: str = State.idle.value
    pending: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    turns: int = 0
    offer: dict[str, Any] | None = None
    chat: str = ""  # the group chat this session belongs to ("" in a direct chat); see messages.session_key
    thread: str = ""  # in a group: the thread of the message that started the current flow
    # The state as last read from the store (None: new); not persisted. Lets the store update
    # only the index entries that changed.
    stored_state: str | None = field(default=None, compare=False, repr=False)

    def add_turn(self, role: str, text: str = "", max_turns: int = 10, **extra: Any) -> None:
        """Append one message; keep at most ``max_turns`` user+bot turns (2 messages each), oldest dropped."""
        entry: dict[str, Any] = {"role": role, "text": text, "at": round(time.time(), 3)}
        entry.update({k: v for k, v in extra.items() if v is not None})
        self.history.append(entry)
        overflow = len(self.history) - 2 * max_turns
        if overflow > 0:
            del self.history[:overflow]

    def clear_pending(self, keep: tuple[str, ...] = ()) -> None:
        self.pending = {k: v for k, v in self.pending.items() if k in keep}

    def to_json(self) -> str:
        return self._json_bytes().decode()

    def _json_bytes(self) -> bytes:
        # orjson: a turn reads and writes the whole record, and the stdlib takes some 25 times as long
        # (~45 µs against under 2 for a full history of Chinese text). Same bytes: compact, UTF-8, in order.
        return orjson.dumps(
            {
                "v": SCHEMA_VERSION,
                "key": self.key,
                "state": self.state,
                "pending": self.pending,
                "history": self.history,
                "created_at": self.created_at,
                "updated_at": self.updated_at,
                "turns": self.turns,
                "offer": self.offer,
                **({"chat": self.chat, "thread": self.thread} if self.chat else {}),
            }
        )

    def to_record(self) -> bytes:
        """What the store keeps: the JSON, compressed when it is large."""
        text = self._json_bytes()
        return compressed(text) if len(text) > COMPRESS_ABOVE else text

    @classmethod
    def from_json(cls, raw: str | bytes) -> Session:
        """A session from its JSON or its stored record (``to_record``)."""
        data = orjson.loads(record_json(raw))
        if not isinstance(data, dict):
            raise ValueError("a session record must be a JSON object")
        version = data.get("v")
        if version != SCHEMA_VERSION:
            raise ValueError(f"unsupported session schema version {version!r}")
        return cls(
            key=data["key"],
            state=data.get("state", State.idle.value),
            pending=dict(data.get("pending") or {}),
            history=list(data.get("history") or []),
            created_at=float(data.get("created_at", time.time())),
            updated_at=float(data.get("updated_at", time.time())),
            turns=int(data.get("turns", 0)),
            offer=data.get("offer") if isinstance(data.get("offer"), dict) else None,
            chat=str(data.get("chat") or ""),
            thread=str(data.get("thread") or ""),
            stored_state=data.get("state", State.idle.value),
        )
