"""Operations for on-call staff: find a session, see what the bot waits for, reset it; orders, stats, audit.

Platform-neutral and Flask-free: the admin API, the admin page and the CLI all call
``Ops``. Listing walks the store's ops index (sorted sets of session keys scored by
last activity) with keyset cursors — never ``KEYS``; stats are ``ZCOUNT``s over that
index, O(log N) each. Every change (reset, delete, TTL, order cancel) is written to
an audit trail: a Redis stream capped at about ``AUDIT_MAX`` entries.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import redis

from bot.config import Settings
from bot.conversation import Conversation
from bot.messages import is_storable
from bot.ports import ObjectStore, Order, OrderError, ServiceError, StoreUnavailable, WorkOrders
from bot.replies import say
from bot.session import Session
from bot.store import STATES, SessionStore

log = logging.getLogger(__name__)

TTL_MIN, TTL_MAX = 60, 86400
MAX_LIMIT = 200
AUDIT_MAX = 10_000
IMAGE_LINK_SECONDS = 600
# The index is never trimmed by the store; entries idle this long are certainly gone (a session lives
# at most its TTL after its last turn, or TTL_MAX after an ops TTL change) and are dropped when listing.
_PRUNE_AFTER_EXTRA = TTL_MAX + 3600
_SCAN_BUDGET = 5000  # index entries one list call may walk before answering with a cursor
_Q_MATCH_CAP = 10_000  # matches kept by one search

T = TypeVar("T")
_VISIBLE = re.compile(r"[^\x00-\x20\x7f]")  # the same rule as the OpenAPI document's pattern
Notify = Callable[[str, str], bool]
ImageLink = Callable[[str], str | None]


class NotFound(LookupError):
    """The session or order does not exist (or has expired)."""


class Invalid(ValueError):
    """A request value is out of range or malformed; the message says which."""


class Conflict(RuntimeError):
    """The change cannot be made in the object's current state (e.g. cancelling a closed order)."""


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None

    def to_json(self) -> dict[str, Any]:
        return {"items": self.items, "next_cursor": self.next_cursor}


def iso(ts: float | datetime | None) -> str | None:
    if ts is None:
        return None
    moment = ts if isinstance(ts, datetime) else datetime.fromtimestamp(ts, UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def split_key(skey: str) -> tuple[str, str, str]:
    """``platform:tenant:user`` → its parts (the user part may itself hold ':')."""
    parts = skey.split(":", 2)
    while len(parts) < 3:
        parts.append("")
    return parts[0], parts[1], parts[2]


def waiting_for(session: Session) -> str | None:
    """What the bot waits for, in the words an on-call engineer reads at 3 a.m."""
    state, pending = session.state, session.pending
    if state == "waiting_location":
        return "location of the reported problem"
    if state == "waiting_confirm":
        return 'the user to reply "confirm"'
    if state == "waiting_close_photo":
        return f"photo of the fixed site for {pending.get('order_id') or 'an order'}"
    return None


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
    if pending.get("analysis_failed"):
        out["analysis_failed"] = pending["analysis_failed"]
    return out


def _encode_cursor(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        score, member = float(data["s"]), data["m"]
    except (binascii.Error, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError):
        raise Invalid("cursor is not one this API handed out") from None
    if not isinstance(member, str):
        raise Invalid("cursor is not one this API handed out")
    return score, member


def _glob_escape_ci(text: str) -> str:
    """A Redis MATCH fragment matching ``text`` literally and case-insensitively."""
    out = []
    for ch in text:
        if ch.isalpha() and ch.lower() != ch.upper():
            out.append(f"[{ch.lower()}{ch.upper()}]")
        elif ch in "*?[]\\^-":
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def _limit(value: Any, default: int = 50) -> int:
    if value is None:
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise Invalid(f"limit must be a whole number between 1 and {MAX_LIMIT}") from None
    if not 1 <= number <= MAX_LIMIT:
        raise Invalid(f"limit must be a whole number between 1 and {MAX_LIMIT}")
    return number


def _store_call(fn: Callable[..., T]) -> Callable[..., T]:
    """Redis connection trouble becomes StoreUnavailable, which every edge maps to 503 / a clear CLI error."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise StoreUnavailable(f"session store unreachable: {type(exc).__name__}") from exc

    return wrapper


class _Budget:
    """How many index entries one request may walk, and where the walk got to."""

    def __init__(self, entries: int) -> None:
        self.left = entries
        self.last: tuple[float, str] | None = None

    def take(self, score: float, member: str) -> None:
        self.left -= 1
        self.last = (score, member)

    @property
    def spent(self) -> bool:
        return self.left <= 0


class Ops:
    """The on-call operations over one runtime's store, engine, orders and storage."""

    def __init__(
        self,
        settings: Settings,
        store: SessionStore,
        engine: Conversation,
        orders: WorkOrders,
        storage: ObjectStore,
        *,
        platforms: Iterable[str] = (),
        notify: Notify | None = None,
        image_link: ImageLink | None = None,
        clock: Callable[[], float] = time.time,
        audit_max: int = AUDIT_MAX,
    ) -> None:
        self.settings = settings
        self.store = store
        self.engine = engine
        self.orders = orders
        self.storage = storage
        self.platforms = sorted(set(platforms))
        self.notify = notify
        self.image_link = image_link
        self.clock = clock
        self.audit_key = store.key("audit")
        self.audit_max = audit_max

    # -- sessions: list ---------------------------------------------------------------------------------------
    @_store_call
    def list_sessions(
        self,
        *,
        state: str | None = None,
        platform: str | None = None,
        q: str | None = None,
        cursor: str | None = None,
        limit: Any = None,
    ) -> Page:
        """Live sessions, newest activity first, ``limit`` per page; ``q`` matches part of the user id."""
        size = _limit(limit)
        state, platform, q = (state or None), (platform or None), (q or "").strip() or None
        if state and state not in STATES:
            raise Invalid(f"state must be one of {', '.join(STATES)}")
        if platform and not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", platform):
            raise Invalid("platform must be a platform name")
        if q and len(q) > 128:
            raise Invalid("q must be at most 128 characters")
        after = _decode_cursor(cursor) if cursor else None
        if after is None:
            self._prune()
        index = self.store.index_key(state=state) if state else self.store.index_key(platform=platform)
        if q:
            walk: Iterator[tuple[str, float]] = iter(self._after(self._search(index, q, platform), after))
        else:
            keep = (lambda m: split_key(m)[0] == platform) if (state and platform) else None
            walk = self._walk(index, after, keep)
        items: list[dict[str, Any]] = []
        last: tuple[float, str] | None = None
        budget = _Budget(_SCAN_BUDGET)
        for item, position in self._live(walk, size + 1, budget):
            if len(items) == size:  # one more live session exists: the page ends at ``last``
                return Page(items, _encode_cursor({"s": last[0], "m": last[1]}) if last else None)
            items.append(item)
            last = position
        if budget.spent and budget.last is not None:
            # Walked as far as one request may: hand back where the walk stopped (the page may be short).
            return Page(items, _encode_cursor({"s": budget.last[0], "m": budget.last[1]}))
        return Page(items, None)

    def _live(
        self, walk: Iterator[tuple[str, float]], batch_size: int, budget: _Budget
    ) -> Iterator[tuple[dict[str, Any], tuple[float, str]]]:
        """Summaries of the sessions that still exist, loading ``batch_size`` per round trip."""
        batch: list[tuple[str, float]] = []
        for member, score in walk:
            batch.append((member, score))
            budget.take(score, member)
            if len(batch) >= batch_size or budget.spent:
                yield from self._summaries(batch)
                batch = []
                if budget.spent:
                    return
        yield from self._summaries(batch)

    def _walk(
        self, index: str, after: tuple[float, str] | None, keep: Callable[[str], bool] | None
    ) -> Iterator[tuple[str, float]]:
        """Yield (member, score) from ``index`` newest first, strictly after ``after`` in that order."""
        r = self.store.redis
        top: float | str = after[0] if after else "+inf"
        skip_ties = after
        offset = 0
        chunk = 500
        while True:
            rows = r.zrevrangebyscore(index, top, "-inf", start=offset, num=chunk, withscores=True)
            if not rows:
                return
            for raw, score in rows:
                member = raw.decode()
                # Equal scores come in reverse lexical order: skip those at or before the cursor's member.
                if skip_ties and score == skip_ties[0] and member >= skip_ties[1]:
                    continue
                if keep is None or keep(member):
                    yield member, score
            if len(rows) < chunk:
                return
            offset += chunk

    def _search(self, index: str, q: str, platform: str | None) -> list[tuple[str, float]]:
        """Every index entry whose user id contains ``q`` (case-insensitive), newest first.

        ZSCAN with a server-side MATCH: the members never travel unless they match. With a ':'
        in ``q`` the whole key is matched (an engineer pasting a session key).
        """
        needle = q.lower()
        whole_key = ":" in q
        pattern = f"*{_glob_escape_ci(q)}*" if whole_key else f"*:*:*{_glob_escape_ci(q)}*"
        found: list[tuple[str, float]] = []
        for raw, score in self.store.redis.zscan_iter(index, match=pattern, count=2000):
            member = raw.decode()
            haystack = member if whole_key else split_key(member)[2]
            if needle not in haystack.lower():
                continue
            if platform and split_key(member)[0] != platform:
                continue
            found.append((member, score))
            if len(found) >= _Q_MATCH_CAP:
                break
        # newest first; equal scores in reverse lexical order, as ZREVRANGEBYSCORE gives them
        found.sort(key=lambda ms: (ms[1], ms[0]), reverse=True)
        return found

    @staticmethod
    def _after(rows: list[tuple[str, float]], after: tuple[float, str] | None) -> list[tuple[str, float]]:
        if after is None:
            return rows
        score, member = after
        return [(m, s) for m, s in rows if s < score or (s == score and m < member)]

    def _summaries(self, batch: list[tuple[str, float]]) -> list[tuple[dict[str, Any], tuple[float, str]]]:
        """Load a batch of sessions in one round trip; expired ones (still in the index) are skipped."""
        if not batch:
            return []
        pipe = self.store.redis.pipeline(transaction=False)
        for member, _ in batch:
            pipe.get(self.store.session_redis_key(member))
            pipe.ttl(self.store.session_redis_key(member))
        replies = pipe.execute()
        out = []
        for i, (member, score) in enumerate(batch):
            raw, left = replies[2 * i], replies[2 * i + 1]
            if raw is None:
                continue
            try:
                session = Session.from_json(raw)
            except (ValueError, KeyError, TypeError):
                continue
            out.append((self._summary(session, left), (score, member)))
        return out

    def _summary(self, session: Session, seconds_left: int | None) -> dict[str, Any]:
        platform, tenant, user = split_key(session.key)
        return {
            "key": session.key,
            "platform": platform,
            "tenant": tenant,
            "user": user,
            "state": session.state,
            "waiting_for": waiting_for(session),
            "pending": pending_summary(session.pending),
            "last_activity": iso(session.updated_at),
            "seconds_left": seconds_left if seconds_left is not None and seconds_left >= 0 else None,
            "turns": session.turns,
        }

    def _prune(self) -> None:
        """Drop index entries idle long enough that their session must have expired (O(log N + removed))."""
        horizon = self.clock() - self.settings.session_ttl_seconds - _PRUNE_AFTER_EXTRA
        keys = [self.store.index_key(), *(self.store.index_key(state=s) for s in STATES)]
        keys += [self.store.index_key(platform=p) for p in self.platforms]
        pipe = self.store.redis.pipeline(transaction=False)
        for key in keys:
            pipe.zremrangebyscore(key, "-inf", f"({horizon}")
        pipe.execute()

    # -- sessions: one ----------------------------------------------------------------------------------------
    @_store_call
    def session(self, skey: str) -> dict[str, Any]:
        """Everything about one session: state, pending fields, history with photo links, TTL left."""
        session = self.store.load(skey)
        if session is None:
            raise NotFound(f"no live session {skey!r}")
        detail = self._summary(session, self.store.ttl(skey))
        pending = dict(session.pending)
        if pending.get("image_key"):
            pending["image_url"] = self.image_url(pending["image_key"])
        history = []
        for entry in session.history:
            item = dict(entry)
            item["at"] = iso(entry.get("at"))
            if entry.get("image_key"):
                item["image_url"] = self.image_url(entry["image_key"])
            history.append(item)
        detail.update(
            pending=pending,
            history=history,
            created_at=iso(session.created_at),
        )
        return detail

    def image_url(self, key: str) -> str | None:
        """A short-lived link to a stored photo: the store's own URL, else the edge's authenticated route."""
        try:
            url = self.storage.url(key, IMAGE_LINK_SECONDS)
        except KeyError:
            return None
        except ServiceError as exc:
            log.warning("no link for a photo: %s", exc)
            url = None
        if url is None and self.image_link is not None:
            url = self.image_link(key)
        return url

    # -- sessions: changes ------------------------------------------------------------------------------------
    @_store_call
    def reset(self, skey: str, *, who: str, notify: bool = False) -> dict[str, Any]:
        """Back to idle with pending fields cleared, history kept; optionally tell the user."""
        before = self.store.load(skey)
        if before is None:
            raise NotFound(f"no live session {skey!r}")
        after = self.engine.reset(skey)
        if after is None:
            raise NotFound(f"no live session {skey!r}")
        notified = False
        if notify:
            notified = self._notify(skey)
        self.audit(
            who,
            "session.reset",
            skey,
            before={"state": before.state, "pending": pending_summary(before.pending)},
            after={"state": after.state, "pending": pending_summary(after.pending), "notified": notified},
        )
        return {"key": skey, "state": after.state, "previous_state": before.state, "notified": notified}

    def _notify(self, skey: str) -> bool:
        if self.notify is None:
            return False
        text = say(self.settings.language, "reset_by_ops")
        try:
            return bool(self.notify(skey, text))
        except Exception:  # a platform failure must not undo or fail the reset
            log.exception("ops notice not delivered", extra={"session": skey})
            return False

    @_store_call
    def delete(self, skey: str, *, who: str) -> dict[str, Any]:
        """Forget the session entirely (the user's next message starts a new one)."""
        before = self.store.load(skey)
        left = self.store.ttl(skey)
        if not self.store.delete(skey) or before is None:
            raise NotFound(f"no live session {skey!r}")
        self.audit(
            who,
            "session.delete",
            skey,
            before={"state": before.state, "pending": pending_summary(before.pending), "seconds_left": left},
            after=None,
        )
        return {"key": skey, "deleted": True}

    @_store_call
    def set_ttl(self, skey: str, seconds: Any, *, who: str) -> dict[str, Any]:
        """Give the session ``seconds`` more to live (60 s to one day)."""
        if isinstance(seconds, bool) or not isinstance(seconds, int):
            raise Invalid(f"seconds must be a whole number from {TTL_MIN} to {TTL_MAX}")
        if not TTL_MIN <= seconds <= TTL_MAX:
            raise Invalid(f"seconds must be a whole number from {TTL_MIN} to {TTL_MAX}")
        left = self.store.ttl(skey)
        if left is None or not self.store.set_ttl(skey, seconds):
            raise NotFound(f"no live session {skey!r}")
        self.audit(who, "session.ttl", skey, before={"seconds_left": left}, after={"seconds_left": seconds})
        return {"key": skey, "seconds_left": seconds}

    # -- stats ------------------------------------------------------------------------------------------------
    @_store_call
    def session_counts(self) -> dict[str, Any]:
        """Sessions active within one session TTL, by state and by platform: one pipeline of ZCOUNTs."""
        window = self.settings.session_ttl_seconds
        since = f"{self.clock() - window}"
        pipe = self.store.redis.pipeline(transaction=False)
        pipe.zcount(self.store.index_key(), since, "+inf")
        for state in STATES:
            pipe.zcount(self.store.index_key(state=state), since, "+inf")
        for platform in self.platforms:
            pipe.zcount(self.store.index_key(platform=platform), since, "+inf")
        counts = pipe.execute()
        total = int(counts[0])
        by_state = {s: int(n) for s, n in zip(STATES, counts[1 : 1 + len(STATES)], strict=True)}
        by_platform = {p: int(n) for p, n in zip(self.platforms, counts[1 + len(STATES) :], strict=True)}
        other = total - sum(by_platform.values())
        if other > 0:
            by_platform["other"] = other
        return {"active": total, "by_state": by_state, "by_platform": by_platform, "window_seconds": window}

    @_store_call
    def stats(self) -> dict[str, Any]:
        """The numbers for the top of the page; parts that are down are named in ``problems``."""
        started = time.perf_counter()
        problems: list[str] = []
        sessions = self.session_counts()
        orders: dict[str, int] | None
        try:
            orders = self.orders.counts()
        except ServiceError as exc:
            orders = None
            problems.append(str(exc))
        turns = self.store.turns_since(3600)
        return {
            "sessions": sessions,
            "orders": orders,
            "turns_last_hour": turns,
            "redis": self._redis_info(problems),
            "problems": problems,
            "took_ms": round((time.perf_counter() - started) * 1000, 1),
        }

    def _redis_info(self, problems: list[str]) -> dict[str, Any]:
        info: dict[str, Any] = {"version": None, "used_memory": None, "used_memory_human": None}
        try:
            server = self.store.redis.info("server")
            memory = self.store.redis.info("memory")
        except redis.ResponseError:
            info["version"] = "embedded (in-process)"
            return info
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            problems.append(f"redis info unavailable: {type(exc).__name__}")
            return info
        info.update(
            version=str(server.get("redis_version")) if server.get("redis_version") else None,
            used_memory=int(memory["used_memory"]) if "used_memory" in memory else None,
            used_memory_human=str(memory["used_memory_human"]) if "used_memory_human" in memory else None,
        )
        return info

    # -- orders -----------------------------------------------------------------------------------------------
    def list_orders(
        self, *, status: str | None = None, q: str | None = None, cursor: str | None = None, limit: Any = None
    ) -> Page:
        size = _limit(limit)
        try:
            orders, next_cursor = self.orders.list(
                status=status or None, q=(q or "").strip() or None, cursor=cursor or None, limit=size
            )
        except ValueError as exc:
            raise Invalid(str(exc)) from None
        return Page([self.order_json(o, history=False) for o in orders], next_cursor)

    def order(self, order_id: str) -> dict[str, Any]:
        found = self.orders.get(order_id)
        if found is None:
            raise NotFound(f"no order {order_id!r}")
        return self.order_json(found, history=True)

    def cancel_order(self, order_id: str, reason: Any, *, who: str) -> dict[str, Any]:
        if not isinstance(reason, str) or not _VISIBLE.search(reason) or len(reason) > 500 or not is_storable(reason):
            raise Invalid("reason must be a string of 1 to 500 characters with something visible in it")
        before = self.orders.get(order_id)
        if before is None:
            raise NotFound(f"no order {order_id!r}")
        try:
            after = self.orders.cancel(before.id, reason.strip())
        except OrderError as exc:
            if str(exc) == "not found":
                raise NotFound(f"no order {order_id!r}") from None
            raise Conflict(f"order {before.id} is {before.status}, only open orders can be cancelled") from None
        self.audit(
            who,
            "order.cancel",
            after.id,
            before={"status": before.status},
            after={"status": after.status, "reason": after.cancel_reason},
        )
        return self.order_json(after, history=False)

    def order_json(self, order: Order, *, history: bool) -> dict[str, Any]:
        r = order.reporter
        out: dict[str, Any] = {
            "id": order.id,
            "status": order.status,
            "alarm_type": order.alarm_type,
            "description": order.description,
            "severity": order.severity,
            "location": order.location_text,
            "latitude": order.latitude,
            "longitude": order.longitude,
            "reporter": {
                "platform": r.platform,
                "tenant": r.tenant,
                "user": r.user,
                "session_key": f"{r.platform}:{r.tenant}:{r.user}",
            },
            "alarm_id": order.alarm_id,
            "created_at": iso(order.created_at),
            "closed_at": iso(order.closed_at),
            "vlm_resolved": order.vlm_resolved,
            "vlm_reason": order.vlm_reason,
            "cancel_reason": order.cancel_reason,
            "report_photo": self._photo(order.report_photo_key),
            "close_photo": self._photo(order.close_photo_key),
        }
        if history:
            out["history"] = [
                {**h, "at": iso(h.get("at")) if isinstance(h.get("at"), (int, float)) else h.get("at")}
                | ({"image_url": self.image_url(h["image_key"])} if h.get("image_key") else {})
                for h in order.history
            ]
        return out

    def _photo(self, key: str | None) -> dict[str, Any] | None:
        return {"key": key, "url": self.image_url(key)} if key else None

    # -- audit ------------------------------------------------------------------------------------------------
    def audit(self, who: str, action: str, target: str, *, before: Any, after: Any) -> None:
        """Append one entry; the stream is trimmed to about AUDIT_MAX entries on every write."""
        fields = {
            "who": who,
            "at": iso(self.clock()) or "",
            "action": action,
            "target": target,
            "before": json.dumps(before, ensure_ascii=False),
            "after": json.dumps(after, ensure_ascii=False),
        }
        try:
            self.store.redis.xadd(self.audit_key, fields, maxlen=self.audit_max, approximate=True)
        except (redis.ConnectionError, redis.TimeoutError):
            # the change is made; losing its record must be visible in the log at least
            log.error("audit entry not written: %s %s by %s", action, target, who)
        log.info("ops %s %s by %s", action, target, who)

    @_store_call
    def audit_log(self, *, cursor: str | None = None, limit: Any = None) -> Page:
        """Newest first; the cursor is the id of the last entry seen."""
        size = _limit(limit)
        top = "+"
        if cursor:
            if not re.fullmatch(r"\d{1,20}-\d{1,20}", cursor) or any(int(n) >= 2**64 for n in cursor.split("-")):
                raise Invalid("cursor is not one this API handed out")
            top = f"({cursor}"
        rows = self.store.redis.xrevrange(self.audit_key, top, "-", count=size + 1)
        items = []
        for entry_id, raw in rows[:size]:
            fields = {k.decode(): v.decode() for k, v in raw.items()}
            items.append(
                {
                    "id": entry_id.decode(),
                    "who": fields.get("who", ""),
                    "at": fields.get("at", ""),
                    "action": fields.get("action", ""),
                    "target": fields.get("target", ""),
                    "before": _loads(fields.get("before")),
                    "after": _loads(fields.get("after")),
                }
            )
        next_cursor = items[-1]["id"] if len(rows) > size and items else None
        return Page(items, next_cursor)


def _loads(raw: str | None) -> Any:
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw
