"""The audit trail of ops changes: a Redis stream ``P:audit`` capped at about ``AUDIT_MAX`` entries."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import redis

from bot.adapters.redis.errors import guarded
from bot.paging import Page
from bot.session_admin import AUDIT_MAX, AuditEntry, AuditLog

log = logging.getLogger(__name__)

_CURSOR = re.compile(r"\d{1,20}-\d{1,20}")


class AuditTrail(AuditLog):
    def __init__(self, client: redis.Redis, key: str, max_entries: int = AUDIT_MAX) -> None:
        self.redis = client
        self.key = key
        self.max_entries = max_entries

    @guarded
    def append(self, *, who: str, at: str, action: str, target: str, before: Any, after: Any) -> None:
        """Write one entry, trimming the stream; a Redis failure is logged (the change is made already)."""
        fields: dict[Any, Any] = {  # redis-py's own key/value union, spelled loosely
            "who": who,
            "at": at,
            "action": action,
            "target": target,
            "before": json.dumps(before, ensure_ascii=False),
            "after": json.dumps(after, ensure_ascii=False),
        }
        try:
            self.redis.xadd(self.key, fields, maxlen=self.max_entries, approximate=True)
        except (redis.ConnectionError, redis.TimeoutError):
            log.error("audit entry not written: %s %s by %s", action, target, who)

    @guarded
    def page(self, cursor: str | None, size: int) -> Page[AuditEntry]:
        """Newest first; the cursor is the id of the last entry seen. ValueError for a cursor not handed out."""
        top = "+"
        if cursor:
            if not _CURSOR.fullmatch(cursor) or any(int(n) >= 2**64 for n in cursor.split("-")):
                raise ValueError("invalid cursor")
            top = f"({cursor}"
        rows: list[Any] = self.redis.xrevrange(self.key, top, "-", count=size + 1) or []
        items = [_entry(entry_id, raw) for entry_id, raw in rows[:size]]
        return Page(items, items[-1].id if len(rows) > size and items else None)


def _entry(entry_id: bytes, raw: dict[bytes, bytes]) -> AuditEntry:
    fields = {k.decode(): v.decode() for k, v in raw.items()}
    return AuditEntry(
        id=entry_id.decode(),
        who=fields.get("who", ""),
        at=fields.get("at", ""),
        action=fields.get("action", ""),
        target=fields.get("target", ""),
        before=_loads(fields.get("before")),
        after=_loads(fields.get("after")),
    )


def _loads(raw: str | None) -> Any:
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw
