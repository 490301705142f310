"""Operations for on-call staff: find a session, reset it; orders, stats, audit.

Platform-neutral and Flask-free: the admin API, the admin page and the CLI all call ``Ops``,
and shape what it returns for their reader (``handlers/web/admin/views.py``). The data lives
with its owners, behind ports: sessions, their activity index and the audit trail behind ``SessionRecords``
(``bot.session_admin``; Redis implements it), orders behind ``WorkOrders``. Every change (reset,
delete, TTL, order cancel) is written to the audit trail.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from bot import paging
from bot.config import Settings
from bot.dialogue.engine import Engine
from bot.dialogue.machine import STATES
from bot.messages import is_storable, person_key
from bot.orders.events import Events, NoEvents
from bot.paging import Page
from bot.ports import ObjectStore, Order, OrderError, OrderNotFound, Reporter, ServiceError, WorkOrders
from bot.replies import say
from bot.session import Session
from bot.session_admin import AUDIT_MAX, AuditEntry, Entry, SessionRecords, after, iso, pending_summary, split_key

log = logging.getLogger(__name__)

TTL_MIN, TTL_MAX = 60, 86400
IMAGE_LINK_SECONDS = 600
# The index is never trimmed by the store; entries idle this long are certainly gone (a session lives
# at most its TTL after its last turn, or TTL_MAX after an ops TTL change) and are dropped when listing.
_PRUNE_AFTER_EXTRA = TTL_MAX + 3600
_SCAN_BUDGET = 5000  # index entries one list call may walk before answering with a cursor
_Q_MATCH_CAP = 10_000  # matches kept by one search
_Q_MAX = 128  # characters of a search
_NEAR_MATCHES = 10  # sessions offered when a user id matches none exactly
_VISIBLE = re.compile(r"[^\x00-\x20\x7f]")  # the same rule as the OpenAPI document's pattern

Notify = Callable[[str, str], bool]
ImageLink = Callable[[str], str | None]


class NotFound(LookupError):
    """The session or order does not exist (or has expired)."""


class Invalid(ValueError):
    """A request value is out of range or malformed; the message says which."""


class Conflict(RuntimeError):
    """The change cannot be made in the object's current state (e.g. cancelling a closed order)."""


class UnknownUser(NotFound):
    """No live session of a bare user id; ``candidates``: sessions whose user id contains it (maybe none)."""

    def __init__(self, user: str, candidates: list[SessionView]) -> None:
        hint = "user ids containing it:" if candidates else "a key is platform:tenant:user."
        super().__init__(f"no live session of user id {user!r}; {hint}")
        self.candidates = candidates


class Ambiguous(Conflict):
    """A bare user id has several live sessions (two platforms or tenants, a group chat): ``candidates``. Acting on
    one of them at a guess could reset the wrong conversation, so the caller is asked to pick a key."""

    def __init__(self, user: str, candidates: list[SessionView]) -> None:
        super().__init__(f"user id {user!r} has {len(candidates)} live sessions; give one of these keys")
        self.candidates = candidates


@dataclass(frozen=True)
class SessionView:
    """A live session as ops see it: the record and the seconds it has left."""

    session: Session
    seconds_left: int | None


# ``cancelled_by`` of an order cancelled from the admin API, page or CLI: platform "ops", the admin's name.
OPS_PLATFORM = "ops"


def page_size(value: Any, default: int = 50) -> int:
    """A ``limit`` from a request: 1 to ``MAX_PAGE``, else Invalid."""
    if value is None:
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if not 1 <= number <= paging.MAX_PAGE:
        raise Invalid(f"limit must be a whole number between 1 and {paging.MAX_PAGE}")
    return number


def _index_cursor(cursor: str) -> Entry:
    try:
        data = paging.decode_cursor(cursor)
        score, member = float(data["s"]), data["m"]
    except (KeyError, TypeError, ValueError):
        raise Invalid("cursor is not one this API handed out") from None
    if not isinstance(member, str):
        raise Invalid("cursor is not one this API handed out")
    return member, score


def _cursor_at(entry: Entry) -> str:
    return paging.encode_cursor({"s": entry[1], "m": entry[0]})


class Ops:
    """The on-call operations over one runtime's store, engine, orders and storage."""

    def __init__(
        self,
        settings: Settings,
        store: SessionRecords,
        engine: Engine,
        orders: WorkOrders,
        storage: ObjectStore,
        *,
        platforms: Iterable[str] = (),
        notify: Notify | None = None,
        image_link: ImageLink | None = None,
        clock: Callable[[], float] = time.time,
        audit_max: int = AUDIT_MAX,
        events: Events | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.index = store.index
        self.engine = engine
        self.orders = orders
        self.storage = storage
        self.platforms = sorted(set(platforms))
        self.notify = notify
        self.image_link = image_link
        self.clock = clock
        self.events = events or NoEvents()
        self.trail = store.audit_trail(audit_max)

    # -- sessions: list ---------------------------------------------------------------------------------------
    def list_sessions(
        self,
        *,
        state: str | None = None,
        platform: str | None = None,
        q: str | None = None,
        cursor: str | None = None,
        limit: Any = None,
    ) -> Page[SessionView]:
        """Live sessions, newest activity first, ``limit`` per page; ``q`` matches part of the user id."""
        size = page_size(limit)
        state, platform, q = (state or None), (platform or None), (q or "").strip() or None
        if state and state not in STATES:
            raise Invalid(f"state must be one of {', '.join(STATES)}")
        if platform and not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", platform):
            raise Invalid("platform must be a platform name")
        if q and len(q) > _Q_MAX:
            raise Invalid(f"q must be at most {_Q_MAX} characters")
        position = _index_cursor(cursor) if cursor else None
        if position is None:
            horizon = self.clock() - self.settings.session_ttl_seconds - _PRUNE_AFTER_EXTRA
            self.index.prune(horizon, self.platforms)
        index = self.index.keys(state=state) if state else self.index.keys(platform=platform)
        walk: Iterator[Entry]
        if q:
            walk = iter(after(self.index.search(index, q, platform, _Q_MATCH_CAP), position))
        else:
            keep = (lambda m: split_key(m)[0] == platform) if (state and platform) else None
            walk = self.index.walk(index, position, keep)
        return self._page_of_live(walk, size)

    def _page_of_live(self, walk: Iterator[Entry], size: int) -> Page[SessionView]:
        """Up to ``size`` sessions that still exist, loading a batch per round trip, within the scan budget."""
        items: list[SessionView] = []
        last: Entry | None = None  # the entry of the last item kept
        walked: Entry | None = None  # the last entry looked at
        budget = _SCAN_BUDGET
        batch: list[Entry] = []
        exhausted = False
        while not exhausted:
            entry = next(walk, None)
            if entry is not None:
                batch.append(entry)
                walked = entry
                budget -= 1
            exhausted = entry is None or budget <= 0
            if batch and (len(batch) > size or exhausted):
                loaded = self.store.load_many([member for member, _ in batch])
                for (session, left), position in zip(loaded, batch, strict=True):
                    if session is None:
                        continue
                    if len(items) == size:  # one more live session exists: the page ends at ``last``
                        return Page(items, _cursor_at(last) if last else None)
                    items.append(SessionView(session, left))
                    last = position
                batch = []
        if budget <= 0 and walked is not None:
            # Walked as far as one request may: hand back where the walk stopped (the page may be short).
            return Page(items, _cursor_at(walked))
        return Page(items, None)

    # -- sessions: one ----------------------------------------------------------------------------------------
    def session(self, skey: str) -> SessionView:
        """One live session with the seconds it has left."""
        session = self.store.load(skey)
        if session is None:
            raise NotFound(f"no live session {skey!r}")
        return SessionView(session, self.store.ttl(skey))

    def resolve(self, given: str) -> str:
        """The session key ``given`` names: itself when it is a full key (platform:tenant:user), else the one live
        session whose user id is exactly ``given``, on any platform and tenant. Several: ``Ambiguous``; none:
        ``UnknownUser``. The admin API and the CLI both take a key or a bare user id through here."""
        if given.count(":") >= 2:
            return given
        if not given.strip() or len(given) > _Q_MAX:
            raise UnknownUser(given, [])  # no user id is blank, and search takes no longer text
        found = self.sessions_of(given)
        if len(found) == 1:
            return found[0].session.key
        if found:
            raise Ambiguous(given, found)
        raise UnknownUser(given, self.list_sessions(q=given, limit=_NEAR_MATCHES).items)

    def sessions_of(self, user: str) -> list[SessionView]:
        """The live sessions whose user id is exactly ``user``, on every platform and tenant."""
        found: list[SessionView] = []
        cursor: str | None = None
        while True:
            page = self.list_sessions(q=user, cursor=cursor, limit=paging.MAX_PAGE)
            found += [
                view for view in page.items if split_key(person_key(view.session.key, view.session.chat))[2] == user
            ]
            cursor = page.next_cursor
            if cursor is None:
                return found

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
    def reset(self, skey: str, *, who: str, notify: bool = False) -> dict[str, Any]:
        """Back to idle with pending fields cleared, history kept; optionally tell the user."""
        before = self.store.load(skey)
        if before is None:
            raise NotFound(f"no live session {skey!r}")
        after_reset = self.engine.reset(skey)
        if after_reset is None:
            raise NotFound(f"no live session {skey!r}")
        notified = self._notify(person_key(skey, before.chat)) if notify else False
        self.audit(
            who,
            "session.reset",
            skey,
            before={"state": before.state, "pending": pending_summary(before.pending)},
            after={"state": after_reset.state, "pending": pending_summary(after_reset.pending), "notified": notified},
        )
        return {"key": skey, "state": after_reset.state, "previous_state": before.state, "notified": notified}

    def _notify(self, skey: str) -> bool:
        if self.notify is None:
            return False
        text = say(self.settings.language, "reset_by_ops")
        try:
            return bool(self.notify(skey, text))
        except Exception:  # a platform failure must not undo or fail the reset
            log.exception("ops notice not delivered", extra={"session": skey})
            return False

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

    def set_ttl(self, skey: str, seconds: Any, *, who: str) -> dict[str, Any]:
        """Give the session ``seconds`` more to live (60 s to one day)."""
        if isinstance(seconds, bool) or not isinstance(seconds, int) or not TTL_MIN <= seconds <= TTL_MAX:
            raise Invalid(f"seconds must be a whole number from {TTL_MIN} to {TTL_MAX}")
        left = self.store.ttl(skey)
        if left is None or not self.store.set_ttl(skey, seconds):
            raise NotFound(f"no live session {skey!r}")
        self.audit(who, "session.ttl", skey, before={"seconds_left": left}, after={"seconds_left": seconds})
        return {"key": skey, "seconds_left": seconds}

    # -- stats ------------------------------------------------------------------------------------------------
    def session_counts(self) -> dict[str, Any]:
        """Sessions active within one session TTL, by state and by platform."""
        window = self.settings.session_ttl_seconds
        total, by_state, by_platform = self.index.counts(self.clock() - window, self.platforms)
        other = total - sum(by_platform.values())
        if other > 0:
            by_platform["other"] = other
        return {"active": total, "by_state": by_state, "by_platform": by_platform, "window_seconds": window}

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
            "redis": self.store.server_info(problems),
            "problems": problems,
            "took_ms": round((time.perf_counter() - started) * 1000, 1),
        }

    # -- orders -----------------------------------------------------------------------------------------------
    def list_orders(
        self, *, status: str | None = None, q: str | None = None, cursor: str | None = None, limit: Any = None
    ) -> Page[Order]:
        size = page_size(limit)
        try:
            orders, next_cursor = self.orders.list(
                status=status or None, q=(q or "").strip() or None, cursor=cursor or None, limit=size
            )
        except ValueError as exc:
            raise Invalid(str(exc)) from None
        return Page(orders, next_cursor)

    def order(self, order_id: str) -> Order:
        found = self.orders.get(order_id)
        if found is None:
            raise NotFound(f"no order {order_id!r}")
        return found

    def cancel_order(self, order_id: str, reason: Any, *, who: str) -> Order:
        if not isinstance(reason, str) or not _VISIBLE.search(reason) or len(reason) > 500 or not is_storable(reason):
            raise Invalid("reason must be a string of 1 to 500 characters with something visible in it")
        before = self.order(order_id)
        try:
            cancelled = self.orders.cancel(before.id, reason.strip(), Reporter(OPS_PLATFORM, "", who))
        except OrderNotFound:
            raise NotFound(f"no order {order_id!r}") from None
        except OrderError:
            raise Conflict(f"order {before.id} is {before.status}, only open orders can be cancelled") from None
        self.audit(
            who,
            "order.cancel",
            cancelled.id,
            before={"status": before.status},
            after={"status": cancelled.status, "reason": cancelled.cancel_reason},
        )
        return cancelled

    # -- audit ------------------------------------------------------------------------------------------------
    def audit(self, who: str, action: str, target: str, *, before: Any, after: Any) -> None:
        """Record one change in the audit trail."""
        self.trail.append(who=who, at=iso(self.clock()) or "", action=action, target=target, before=before, after=after)
        log.info("ops %s %s by %s", action, target, who)

    def audit_log(self, *, cursor: str | None = None, limit: Any = None) -> Page[AuditEntry]:
        """Newest first; the cursor is the id of the last entry seen."""
        try:
            return self.trail.page(cursor, page_size(limit))
        except ValueError:
            raise Invalid("cursor is not one this API handed out") from None
