"""What on-call ops read sessions through (``bot.ops``): the stored records, the index of recent activity, and
the audit trail of their changes. Redis implements them (``bot.adapters.redis``); connection trouble surfaces as
``StoreUnavailable``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from bot.paging import Page

if TYPE_CHECKING:
    from bot.session import Session

AUDIT_MAX = 10_000  # entries the audit trail keeps, about
Entry = tuple[str, float]  # (session key, last activity): a position in the activity index


def split_key(skey: str) -> tuple[str, str, str]:
    """``platform:tenant:user`` → its parts (the user part may itself hold ':')."""
    parts = skey.split(":", 2)
    while len(parts) < 3:
        parts.append("")
    return parts[0], parts[1], parts[2]


def after(entries: list[Entry], position: Entry | None) -> list[Entry]:
    """The entries of a newest-first list that come strictly after ``position``."""
    if position is None:
        return entries
    member, score = position
    return [(m, s) for m, s in entries if s < score or (s == score and m < member)]


@dataclass(frozen=True)
class AuditEntry:
    id: str
    who: str
    at: str
    action: str
    target: str
    before: Any
    after: Any


class AuditLog(Protocol):
    def append(self, *, who: str, at: str, action: str, target: str, before: Any, after: Any) -> None: ...

    def page(self, cursor: str | None, size: int) -> Page[AuditEntry]:
        """Newest first, ``size`` entries after the entry id ``cursor``; ValueError for a cursor it never gave."""
        ...


class ActivityIndex(Protocol):
    """Session keys by last activity, by state and by platform (sharded: ``keys`` names the shards to walk)."""

    def keys(self, state: str | None = None, platform: str | None = None) -> list[str]: ...

    def walk(self, indexes: list[str], after: Entry | None, keep: Callable[[str], bool] | None) -> Iterator[Entry]:
        """Newest first, strictly after ``after``, keeping the members ``keep`` accepts."""
        ...

    def search(self, indexes: list[str], q: str, platform: str | None, cap: int) -> list[Entry]: ...

    def counts(self, since: float, platforms: list[str]) -> tuple[int, dict[str, int], dict[str, int]]: ...

    def prune(self, horizon: float, platforms: list[str]) -> None: ...


class SessionRecords(Protocol):
    """The stored sessions as ops sees them: read, extended, deleted, counted."""

    @property
    def index(self) -> ActivityIndex: ...

    @property
    def shared(self) -> bool:
        """Do other processes see these sessions (False for the embedded in-process store)?"""
        ...

    def load(self, skey: str) -> Session | None: ...

    def load_many(self, skeys: list[str]) -> list[tuple[Session | None, int | None]]: ...

    def ttl(self, skey: str) -> int | None: ...

    def set_ttl(self, skey: str, seconds: int) -> bool: ...

    def delete(self, skey: str) -> bool: ...

    def turns_since(self, seconds: int) -> int: ...

    def server_info(self, problems: list[str]) -> dict[str, Any]:
        """The store's version and memory; a failure is named in ``problems``, never raised."""
        ...

    def audit_trail(self, max_entries: int) -> AuditLog: ...


def iso(ts: float | datetime | None) -> str | None:
    if ts is None:
        return None
    moment = ts if isinstance(ts, datetime) else datetime.fromtimestamp(ts, UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def pending_summary(pending: dict[str, Any]) -> dict[str, Any]:
    """The pending fields worth a column in a list (no descriptions, no coordinates)."""
    out: dict[str, Any] = {}
    for name in ("alarm_type", "order_id", "alarm_id"):
        if pending.get(name):
            out[name] = pending[name]
    location = pending.get("location")
    if isinstance(location, dict) and location.get("label"):
        out["location"] = str(location["label"])[:80]
    if pending.get("image_key"):
        out["photo"] = True
    return out
