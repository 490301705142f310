"""The session record: state, pending fields and capped history, (de)serialised as versioned JSON.

How Redis keeps the JSON (compressed when large) is the adapter's business: ``bot.adapters.redis.records``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from bot.dialogue.machine import State

SCHEMA_VERSION = 1


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
    listed: list[str] = field(default_factory=list)  # the order ids of the last numbered list shown ("结单 2")
    reset_from: str = ""  # the state an ops reset ended, told to the user with their next message
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
        return self.json_bytes().decode()

    def json_bytes(self) -> bytes:
        # orjson: a turn reads and writes the whole record, and the stdlib is much slower at it (figures:
        # docs/redis-and-performance.md). Same bytes: compact, UTF-8, in order.
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
                **({"listed": self.listed} if self.listed else {}),
                **({"reset_from": self.reset_from} if self.reset_from else {}),
            }
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> Session:
        """A session from its JSON (``ValueError`` when it is not one)."""
        data = orjson.loads(raw)
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
            listed=[i for i in data["listed"] if isinstance(i, str)][:20]
            if isinstance(data.get("listed"), list)
            else [],
            reset_from=str(data.get("reset_from") or ""),
            stored_state=data.get("state", State.idle.value),
        )
