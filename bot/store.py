"""SessionStore: sessions, per-user FIFO locks, dedupe and the ops index, on Redis.

The algorithm lives here once; the backend is any redis-py compatible client —
a real ``redis.Redis`` in production, ``fakeredis.FakeRedis`` as the embedded
single-process default and in unit tests. Values are JSON, never pickle.

Keys (``P`` = prefix, ``{K}`` = the session key ``platform:tenant:user`` used as a
Redis Cluster hash tag so one user's keys share a slot):

    P:session:{K}          the session JSON, TTL = session TTL, refreshed every save
    P:flow:{K}             state of a session that was mid-flow, outlives it by a day
                           (so the next message can say "your report timed out")
    P:lockq:{K}            FIFO queue of lock tickets for the user's turns
    P:lockalive:{K}:T      a ticket's heartbeat; a crashed worker's ticket expires
    P:result:{K}:EVENT     a processed event's result (24 h), for redeliveries
    P:turns:{sB}:HOUR      turns per minute of the hour, per shard (2 h), for "turns in the last hour"
    P:seen:NS:ID           edge dedupe claims (SET NX)
    P:idx:{sB}:…           the ops index in shards, owned by ``bot.session_index``
    P:audit                the ops audit trail, owned by ``bot.audit``
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

import redis

from bot.config import Settings
from bot.machine import STATES, State
from bot.ports import StoreUnavailable
from bot.redis_client import build_redis
from bot.session import Session
from bot.session_index import ALL_SHARDS, SessionIndex, shard_of

log = logging.getLogger(__name__)

FLOW_MEMORY_SECONDS = 86400  # how long "your report timed out" can still be said after a session expired
TURN_COUNTER_SECONDS = 7200  # an hour's turn counters outlive the hour that ops stats sum
T = TypeVar("T")
P = ParamSpec("P")


class LockTimeout(StoreUnavailable):
    """A turn waited too long for the user's previous turn to finish."""


def guarded(fn: Callable[P, T]) -> Callable[P, T]:
    """Turn any Redis connection problem into StoreUnavailable, which the edge maps to 503."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return fn(*args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise StoreUnavailable(f"session store unreachable: {type(exc).__name__}") from exc

    return wrapper


class SessionStore:
    """Sessions and everything per user on one redis-py client; its numbers come from ``Settings``."""

    def __init__(self, client: redis.Redis, settings: Settings, *, shared: bool = True) -> None:
        self.redis = client
        # False for the embedded in-process store: another process (the ops CLI) sees none of it.
        self.shared = shared
        self.prefix = settings.redis_prefix
        self.ttl_seconds = settings.session_ttl_seconds
        self.lock_timeout_seconds = settings.lock_timeout_seconds
        self.dedupe_ttl_seconds = settings.dedupe_ttl_seconds
        self.index = SessionIndex(client, self.key)
        self._heartbeats = _Heartbeats(client, int(self.lock_timeout_seconds * 1000))

    # -- key building: the only place key shapes are written ------------------------------
    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def _user_key(self, kind: str, skey: str, *rest: str) -> str:
        return ":".join((self.prefix, kind, "{" + skey + "}", *rest))

    def session_redis_key(self, skey: str) -> str:
        return self._user_key("session", skey)

    # -- sessions --------------------------------------------------------------------------
    @guarded
    def load(self, skey: str) -> Session | None:
        raw: bytes | None = self.redis.get(self.session_redis_key(skey))  # type: ignore[assignment]
        return self._decode(skey, raw)

    def _decode(self, skey: str, raw: bytes | None) -> Session | None:
        if raw is None:
            return None
        try:
            session = Session.from_json(raw)
        except (ValueError, KeyError, TypeError):
            # A record we cannot read must not wedge the user: start over, and say so in the log.
            log.warning("unreadable session record dropped", extra={"session": skey})
            return None
        if session.state not in STATES:
            log.warning("session record with unknown state %r dropped", session.state, extra={"session": skey})
            return None
        return session

    @guarded
    def open_turn(self, skey: str, event_id: str | None) -> tuple[dict[str, Any] | None, Session | None]:
        """What a turn starts from, in one round trip: the stored result of ``event_id`` if it was
        processed already, and the session."""
        if not event_id:
            return None, self.load(skey)
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(self._user_key("result", skey, event_id))
        pipe.get(self.session_redis_key(skey))
        seen, raw = pipe.execute()
        return (json.loads(seen) if seen else None), self._decode(skey, raw)

    @guarded
    def expired_flow(self, skey: str) -> str | None:
        """The state of this user's session if it expired mid-flow; forgets it once read."""
        flow_key = self._user_key("flow", skey)
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(flow_key)
        pipe.delete(flow_key)
        state, _ = pipe.execute()
        return state.decode() if state else None

    @guarded
    def save(
        self,
        session: Session,
        ttl_seconds: int | None = None,
        result: tuple[str, dict[str, Any]] | None = None,
        ticket: Ticket | None = None,
    ) -> None:
        """Write the session, refresh its TTL, keep the ops index and counters current; given
        ``(event_id, result)``, remember the turn's result for redeliveries; given the turn's lock
        ``ticket``, release it. All in one round trip."""
        now = time.time()
        session.updated_at = now
        ttl = ttl_seconds or self.ttl_seconds
        skey = session.key
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(self.session_redis_key(skey), session.to_json(), ex=ttl)
        flow_key = self._user_key("flow", skey)
        if session.state == State.idle:
            pipe.delete(flow_key)
        else:
            pipe.set(flow_key, session.state, ex=ttl + FLOW_MEMORY_SECONDS)
        self.index.record(pipe, skey, session.state, session.stored_state, now)
        minute = int(now // 60)
        turns_key = self.key("turns", shard_of(skey), str(minute // 60))
        pipe.hincrby(turns_key, str(minute), 1)
        pipe.expire(turns_key, TURN_COUNTER_SECONDS)
        if result is not None:
            event_id, body = result
            pipe.set(
                self._user_key("result", skey, event_id),
                json.dumps(body, ensure_ascii=False),
                ex=self.dedupe_ttl_seconds,
            )
        if ticket is not None:
            ticket.release_into(pipe)
        pipe.execute()
        session.stored_state = session.state

    @guarded
    def delete(self, skey: str) -> bool:
        pipe = self.redis.pipeline(transaction=False)
        pipe.delete(self.session_redis_key(skey))
        pipe.delete(self._user_key("flow", skey))
        self.index.forget(pipe, skey)
        return bool(pipe.execute()[0])

    @guarded
    def load_many(self, skeys: list[str]) -> list[tuple[Session | None, int | None]]:
        """Sessions and their seconds left, in one round trip; (None, None) for those gone."""
        pipe = self.redis.pipeline(transaction=False)
        for skey in skeys:
            pipe.get(self.session_redis_key(skey))
            pipe.ttl(self.session_redis_key(skey))
        replies = pipe.execute()
        out: list[tuple[Session | None, int | None]] = []
        for i, skey in enumerate(skeys):
            session = self._decode(skey, replies[2 * i])
            left = replies[2 * i + 1]
            out.append((session, int(left) if session is not None and left is not None and left >= 0 else None))
        return out

    @guarded
    def ttl(self, skey: str) -> int | None:
        """Seconds the session has left, or None if there is none."""
        left = self.redis.ttl(self.session_redis_key(skey))
        return None if left is None or left < 0 else int(left)

    @guarded
    def set_ttl(self, skey: str, seconds: int) -> bool:
        return bool(self.redis.expire(self.session_redis_key(skey), seconds))

    @guarded
    def ping(self) -> None:
        self.redis.ping()

    # -- dedupe ----------------------------------------------------------------------------
    @guarded
    def claim(self, namespace: str, ident: str, ttl_seconds: int | None = None) -> bool:
        """True the first time ``ident`` is seen in ``namespace`` within the TTL (SET NX EX)."""
        ttl = ttl_seconds or self.dedupe_ttl_seconds
        return bool(self.redis.set(self.key("seen", namespace, ident), b"1", nx=True, ex=ttl))

    @guarded
    def release(self, namespace: str, ident: str) -> None:
        """Forget a claim, so the next delivery of ``ident`` is processed (when handing it on failed)."""
        self.redis.delete(self.key("seen", namespace, ident))

    # -- per-user FIFO lock ----------------------------------------------------------------
    @contextmanager
    def lock(self, skey: str, wait_seconds: float | None = None) -> Iterator[Ticket]:
        """Run the body while holding the user's lock; turns acquire it in the order they queued.

        Each turn pushes a ticket onto the user's queue and waits until its ticket is at the
        head. A ticket carries a heartbeat key with an expiry, renewed while its turn waits
        or runs, so the ticket of a crashed worker expires and the queue moves on.
        """
        token = uuid.uuid4().hex
        queue = self._user_key("lockq", skey)
        alive_ms = int(self.lock_timeout_seconds * 1000)
        wait = self.lock_timeout_seconds * 2 if wait_seconds is None else wait_seconds
        try:
            head = self._enqueue(queue, skey, token, alive_ms)
            self._heartbeats.add(token, self._alive_key(skey, token), queue)
            if head != token.encode():
                self._wait_for_head(queue, skey, token, wait)
        except BaseException:
            self._heartbeats.remove(token)
            self._dequeue(queue, skey, token)
            raise
        ticket = Ticket(self, queue, self._alive_key(skey, token), token)
        try:
            yield ticket
        finally:
            self._heartbeats.remove(token)
            if not ticket.released:
                self._dequeue(queue, skey, token)

    def _alive_key(self, skey: str, token: str) -> str:
        return self._user_key("lockalive", skey, token)

    @guarded
    def _enqueue(self, queue: str, skey: str, token: str, alive_ms: int) -> bytes | None:
        """Queue the ticket; return the queue's head (our own token when nobody else is waiting)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(self._alive_key(skey, token), b"1", px=alive_ms)
        pipe.rpush(queue, token)
        pipe.pexpire(queue, alive_ms * 4)
        pipe.lindex(queue, 0)
        head: bytes | None = pipe.execute()[-1]
        return head

    @guarded
    def _wait_for_head(self, queue: str, skey: str, token: str, wait_seconds: float) -> None:
        deadline = time.monotonic() + wait_seconds
        pause = 0.001
        while True:
            head: bytes | None = self.redis.lindex(queue, 0)  # type: ignore[assignment]
            if head is None:
                # The queue expired under us (a very long wait): queue again at the end.
                self.redis.rpush(queue, token)
                continue
            head_token = head.decode()
            if head_token == token:
                return
            if not self.redis.exists(self._alive_key(skey, head_token)):
                # The head's worker died without releasing: drop its ticket (tokens are unique,
                # so two waiters removing the same dead ticket is harmless).
                self.redis.lrem(queue, 1, head_token)
                log.warning("dropped an expired lock ticket", extra={"session": skey})
                continue
            if time.monotonic() > deadline:
                raise LockTimeout(f"waited {wait_seconds:.0f}s for the previous turn")
            time.sleep(pause)
            pause = min(pause * 2, 0.02)

    def _dequeue(self, queue: str, skey: str, token: str) -> None:
        try:
            pipe = self.redis.pipeline(transaction=False)
            pipe.lrem(queue, 1, token)
            pipe.delete(self._alive_key(skey, token))
            pipe.execute()
        except (redis.ConnectionError, redis.TimeoutError):
            # Its heartbeat is no longer renewed, so the ticket expires on its own.
            log.warning("could not release a lock ticket; it will expire", extra={"session": skey})

    def server_info(self, problems: list[str]) -> dict[str, Any]:
        """Redis version and memory for ops stats; a failure is named in ``problems``, never raised."""
        info: dict[str, Any] = {"version": None, "used_memory": None, "used_memory_human": None}
        try:
            server, memory = self.redis.info("server"), self.redis.info("memory")
        except redis.ResponseError:  # fakeredis, the embedded store
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

    # -- counters --------------------------------------------------------------------------
    @guarded
    def turns_since(self, seconds: int) -> int:
        now_minute = int(time.time() // 60)
        first = now_minute - seconds // 60 + 1
        hours = range(first // 60, now_minute // 60 + 1)
        pipe = self.redis.pipeline(transaction=False)
        for shard in ALL_SHARDS:
            for hour in hours:
                pipe.hgetall(self.key("turns", shard, str(hour)))
        return sum(
            int(count) for minutes in pipe.execute() for minute, count in minutes.items() if int(minute) >= first
        )


class Ticket:
    """A held turn lock. ``SessionStore.save(…, ticket=…)`` releases it in the save's round trip."""

    def __init__(self, store: SessionStore, queue: str, alive_key: str, token: str) -> None:
        self._store, self._queue, self._alive_key, self.token = store, queue, alive_key, token
        self.released = False

    def release_into(self, pipe: Any) -> None:
        self._store._heartbeats.remove(self.token)
        pipe.lrem(self._queue, 1, self.token)
        pipe.delete(self._alive_key)
        self.released = True


class _Heartbeats:
    """Renews the heartbeat of every lock ticket this process holds or waits with.

    One daemon thread per store (started on first use), not one per turn: starting a thread
    for every turn cost a tenth of a turn's time.
    """

    def __init__(self, client: redis.Redis, alive_ms: int) -> None:
        self._redis, self._alive_ms = client, alive_ms
        self._tickets: dict[str, tuple[str, str]] = {}  # token -> (alive key, queue key)
        self._guard = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, token: str, alive_key: str, queue: str) -> None:
        with self._guard:
            self._tickets[token] = (alive_key, queue)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="lock-heartbeats", daemon=True)
                self._thread.start()

    def remove(self, token: str) -> None:
        with self._guard:
            self._tickets.pop(token, None)

    def _run(self) -> None:
        while True:
            time.sleep(self._alive_ms / 3000)
            with self._guard:
                tickets = list(self._tickets.values())
            if not tickets:
                continue
            try:
                pipe = self._redis.pipeline(transaction=False)
                for alive_key, queue in tickets:
                    pipe.pexpire(alive_key, self._alive_ms)
                    pipe.pexpire(queue, self._alive_ms * 4)
                pipe.execute()
            except (redis.ConnectionError, redis.TimeoutError):
                log.warning("lock heartbeat failed; will retry")


def build_store(settings: Settings) -> SessionStore:
    """A store on the shared Redis the settings describe, else on an in-process fake (one process only)."""
    client = build_redis(settings)
    if client is None:
        import fakeredis  # only needed for the embedded default

        log.warning("REDIS_URL is not set: sessions live in this process only (fine for trying the bot)")
        return SessionStore(fakeredis.FakeRedis(), settings, shared=False)
    return SessionStore(client, settings)
