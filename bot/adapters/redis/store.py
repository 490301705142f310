"""SessionStore: sessions, per-user FIFO locks, dedupe and the ops index, on Redis.

The algorithm lives here once; the backend is any redis-py compatible client —
a real ``redis.Redis`` in production, ``fakeredis.FakeRedis`` as the embedded
single-process default and in unit tests. Values are JSON, never pickle.

Keys (``P`` = prefix, ``{K}`` = the session key ``platform:tenant:user`` used as a
Redis Cluster hash tag so one user's keys share a slot):

    P:session:{K}          the session JSON, TTL = session TTL, refreshed every save
    P:flow:{K}             state of a session that was mid-flow, outlives it by a day
                           (so the next message can say "your report timed out")
    P:lockq:{K}, P:lockalive:{K}:T, P:lockwake:{K}:T
                           the user's turn lock, owned by ``bot.adapters.redis.user_lock``
    P:r:{S}:D              a processed event's result (24 h), for redeliveries; "1" for an hour once its
                           replies were sent. D digests the user and the event, S is three letters of the
                           user's slot (``result_key``)
    P:seen:NS:ID           dedupe marks of platform events (SET NX); an ID over 24 characters as ~ and its digest
    P:idx:{sB}:…           the ops index in shards, and turn counters, owned by ``bot.adapters.redis.session_index``
    P:audit                the ops audit trail, owned by ``bot.adapters.redis.audit``
"""

from __future__ import annotations

import base64
import hashlib
import logging
import time
import zlib
from typing import Any

import orjson
import redis
from redis.cluster import RedisCluster

from bot.adapters.redis.audit import AuditTrail
from bot.adapters.redis.client import build_redis
from bot.adapters.redis.direct import Line
from bot.adapters.redis.errors import guarded
from bot.adapters.redis.records import from_record, to_record
from bot.adapters.redis.scripts import ANSWER, FINISH, RETIME, SAVE, Scripts, joined
from bot.adapters.redis.session_index import SessionIndex
from bot.adapters.redis.slots import short_name
from bot.adapters.redis.user_lock import Heartbeats, LockTimeout, Ticket, hold
from bot.config import Settings
from bot.dialogue.machine import STATES, State
from bot.ports import StoreUnavailable
from bot.session import Session

__all__ = ["LockTimeout", "SessionStore", "StoreUnavailable", "Ticket", "build_store", "guarded"]

log = logging.getLogger(__name__)

SHORT_ID = 24  # longer platform ids are digested in dedupe mark keys (``mark_key``)
ANSWERED = b"1"  # a turn's stored result once its replies were sent (see ``settle_result``)
ANSWERED_SECONDS = 3600
FLOW_MEMORY_SECONDS = 86400  # how long "your report timed out" can still be said after a session expired


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
        self.line = Line(client)  # the hot paths' round trips (bot.adapters.redis.direct)
        self.scripts = Scripts(client, self.line)
        self.index = SessionIndex(client, self.key)
        self.heartbeats = Heartbeats(client, int(self.lock_timeout_seconds * 1000))

    # -- key building: the only place key shapes are written ------------------------------
    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def user_key(self, kind: str, skey: str, *rest: str) -> str:
        return ":".join((self.prefix, kind, "{" + skey + "}", *rest))

    def result_key(self, skey: str, event_id: str) -> str:
        """The stored result of a user's event, then its "answered" marker (``settle_result``): a key for every
        platform message, so the key name is most of its memory.

        Past some 44 bytes of key Redis's allocator moves a key up a size class, and the user's own hash tag
        ``{K}`` is that long already on WeCom and Feishu. So the key is a digest of the user and the event under a
        three-letter hash tag that Redis Cluster puts in the user's slot (``slots.short_name``): the scripts still
        have all of a user's keys in one slot, and a marker's size does not depend on the ids
        (``bench/engine_turns.py`` prints it).
        """
        return self.key("r", short_name(self.user_key("r", skey), skey, event_id))

    def mark_key(self, namespace: str, ident: str) -> str:
        """The dedupe mark of a platform id (``mark_all``; ``Runtime.take`` marks in its hand-off script).

        An id longer than ``SHORT_ID`` is named by a 128-bit digest instead: a mark is kept a day for every
        message, and past some 45 bytes of key Redis's allocator moves it up a size class (``bench/engine_turns.py``
        prints the sizes). Short ids stay readable for whoever looks in Redis.
        """
        if len(ident) > SHORT_ID:
            digest = hashlib.blake2b(ident.encode(), digest_size=16).digest()
            ident = "~" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        return self.key("seen", namespace, ident)

    def session_redis_key(self, skey: str) -> str:
        return self.user_key("session", skey)

    # -- sessions --------------------------------------------------------------------------
    @guarded
    def load(self, skey: str) -> Session | None:
        raw: bytes | None = self.redis.get(self.session_redis_key(skey))  # type: ignore[assignment]
        return self._decode(skey, raw)

    def _decode(self, skey: str, raw: bytes | None) -> Session | None:
        if raw is None:
            return None
        try:
            session = from_record(raw)
        except (ValueError, KeyError, TypeError, zlib.error):
            # A record we cannot read must not wedge the user: start over, and say so in the log.
            log.warning("unreadable session record dropped", extra={"session": skey})
            return None
        if session.state not in STATES:
            log.warning("session record with unknown state %r dropped", session.state, extra={"session": skey})
            return None
        return session

    @guarded
    def open_turn(
        self, skey: str, event_id: str | None, ticket: Ticket | None = None
    ) -> tuple[dict[str, Any] | None, Session | None]:
        """What a turn starts from: the stored result of ``event_id`` if it was processed already, and the
        session. Free when the turn's ``ticket`` brought them; else one round trip."""
        if ticket is not None and ticket.preloaded is not None:
            raw, seen, _ = ticket.preloaded
        elif not event_id:
            return None, self.load(skey)
        else:
            pipe = self.redis.pipeline(transaction=False)
            pipe.get(self.result_key(skey, event_id))
            pipe.get(self.session_redis_key(skey))
            seen, raw = pipe.execute()
        if seen == ANSWERED:
            return {}, self._decode(skey, raw)  # processed and answered: nothing left to send
        return (orjson.loads(seen) if seen else None), self._decode(skey, raw)

    @guarded
    def settle_result(self, skey: str, event_id: str) -> bool:
        """The replies of ``event_id`` were sent: keep a marker instead of its result, for an hour. True if this
        call replaced the result, so of two re-runs of a crashed turn only one sends its replies.

        The marker only has to outlive a re-run of the turn (a take-over after ``TURN_VISIBILITY_SECONDS``); a
        platform's own redeliveries are dropped at the webhook by the ``seen`` marks, which last
        ``DEDUPE_TTL_SECONDS``."""
        key = self.result_key(skey, event_id)
        (old,) = self.line.send([("SET", key, ANSWERED, "XX", "EX", ANSWERED_SECONDS, "GET")], raise_on_error=True)
        return old is not None and old != ANSWERED

    @guarded
    def answered(self, skey: str, event_id: str | None, ticket: Ticket) -> bool:
        """A turn that held its lock while its replies were sent (``Conversation.handle(…, deliver=…)``) is done:
        its stored result shrinks to the marker, as ``settle_result``, and the lock is released, in one round trip.
        True if this call replaced the result."""
        self.heartbeats.remove(ticket.token)
        replaced = self.scripts.call(
            ANSWER.bind(
                result=self.result_key(skey, event_id or ""),
                queue=ticket.queue,
                alive=ticket.alive_key,
                marker=ANSWERED if event_id else "",
                marker_ttl=ANSWERED_SECONDS,
                token=ticket.token,
                wake_prefix=ticket.wake_prefix,
            )
        )
        ticket.released = True
        return bool(replaced)

    @guarded
    def expired_flow(self, skey: str, ticket: Ticket | None = None) -> tuple[str, int] | None:
        """(state, seconds it waited) of this user's session if it expired mid-flow; told once. Free when the
        turn's ``ticket`` brought it (its save then forgets it: ``FINISH`` overwrites the key); else one round
        trip that forgets it at once."""
        if ticket is not None and ticket.preloaded is not None:
            marker = ticket.preloaded[2]
        else:
            flow_key = self.user_key("flow", skey)
            pipe = self.redis.pipeline(transaction=False)
            pipe.get(flow_key)
            pipe.delete(flow_key)
            marker, _ = pipe.execute()
        if not marker:
            return None
        state, _, waited = marker.decode().partition(" ")  # a marker from before the wait was kept has none
        return state, int(waited) if waited.isdigit() else self.ttl_seconds

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
        ``ticket``, release it. One round trip: one script (``SAVE``), or on a Cluster a script on the user's slot
        and one on the index shard's."""
        now = time.time()
        session.updated_at = now
        ttl = ttl_seconds or self.ttl_seconds
        skey = session.key
        event_id, body = result if result is not None else ("", None)
        if ticket is not None:
            self.heartbeats.remove(ticket.token)
        finish = FINISH.bind(
            session=self.session_redis_key(skey),
            flow=self.user_key("flow", skey),
            result=self.result_key(skey, event_id),
            queue=self.user_key("lockq", skey),
            alive=ticket.alive_key if ticket else self.user_key("lockalive", skey, ""),
            record=to_record(session),
            ttl=ttl,
            # the state, and the time it was given without a reply: "timed out after 60 s" says what really was
            flow_state="" if session.state == State.idle else f"{session.state} {ttl}",
            flow_ttl=ttl + FLOW_MEMORY_SECONDS,
            result_json=orjson.dumps(body) if body is not None else "",
            result_ttl=self.dedupe_ttl_seconds,
            token=ticket.token if ticket else "",
            wake_prefix=self.user_key("lockwake", skey, ""),
        )
        record = self.index.record(skey, session.state, session.stored_state, now)
        if self.line.direct:  # one Redis: one script for all of it
            self.scripts.run([joined(SAVE, finish, record)])
        else:  # a Cluster: the user's slot and the index shard's, one script each, in one round trip
            self.scripts.run([finish, record])
        if ticket is not None:
            ticket.released = True
        session.stored_state = session.state

    @guarded
    def delete(self, skey: str) -> bool:
        pipe = self.redis.pipeline(transaction=False)
        pipe.delete(self.session_redis_key(skey))
        pipe.delete(self.user_key("flow", skey))
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
        """Give the session ``seconds``; the flow mark says them too (``RETIME``: one script on the user's slot).
        False if there is no session."""
        retime = RETIME.bind(
            session=self.session_redis_key(skey),
            flow=self.user_key("flow", skey),
            ttl=seconds,
            flow_memory=FLOW_MEMORY_SECONDS,
        )
        return bool(self.scripts.call(retime))

    @guarded
    def ping(self) -> None:
        self.redis.ping()

    # -- dedupe ----------------------------------------------------------------------------
    def mark(self, namespace: str, ident: str, ttl_seconds: int | None = None) -> bool:
        """True the first time ``ident`` is seen in ``namespace`` within the TTL (SET NX EX)."""
        return self.mark_all(namespace, (ident,), ttl_seconds)

    @guarded
    def mark_all(self, namespace: str, idents: tuple[str, ...], ttl_seconds: int | None = None) -> bool:
        """Mark every one of ``idents`` in one round trip; True if none was seen before (an event that names
        its message twice, as Feishu's do, is new only if both ids are)."""
        ttl = ttl_seconds or self.dedupe_ttl_seconds
        marks = [("SET", self.mark_key(namespace, ident), b"1", "NX", "EX", ttl) for ident in idents]
        answers = self.line.send(marks, raise_on_error=True)
        return all(answer is not None for answer in answers)  # OK when set; nil when it was there

    @guarded
    def unmark(self, namespace: str, ident: str) -> None:
        """Forget a mark, so the next delivery of ``ident`` is processed (when handing it on failed)."""
        self.redis.delete(self.mark_key(namespace, ident))

    # -- per-user FIFO lock (bot.adapters.redis.user_lock) ---------------------------------------------------------
    def lock(
        self, skey: str, wait_seconds: float | None = None, event_id: str | None = None, photo: bool = False
    ) -> Any:
        """A context manager holding the user's turn lock; given ``event_id``, the lock comes with the session and
        that event's stored result (``open_turn`` then needs no round trip of its own), and the turn takes up the
        place reserved for it as its message arrived (``user_lock.Reservation``), if there is one."""
        return hold(self, skey, event_id, wait_seconds, photo)

    def server_info(self, problems: list[str]) -> dict[str, Any]:
        """Redis version and memory for ops stats (a Cluster: summed over its masters, and how many there are);
        a failure is named in ``problems``, never raised."""
        info: dict[str, Any] = {"version": None, "used_memory": None, "used_memory_human": None}
        try:
            server = self.redis.info("server")
            if isinstance(self.redis, RedisCluster):
                per_master = self.redis.info("memory", target_nodes=RedisCluster.PRIMARIES)
                memory = {"used_memory": sum(int(node["used_memory"]) for node in per_master.values())}
                memory["used_memory_human"] = _human(memory["used_memory"])
                info["masters"] = len(per_master)
            else:
                memory = self.redis.info("memory")
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

    def audit_trail(self, max_entries: int) -> AuditTrail:
        """The ops audit trail, kept beside the sessions (``bot.adapters.redis.audit``)."""
        return AuditTrail(self.redis, self.key("audit"), max_entries)

    # -- counters --------------------------------------------------------------------------
    @guarded
    def turns_since(self, seconds: int) -> int:
        return self.index.turns_since(seconds)


def _human(size: int) -> str:
    """Bytes as Redis writes ``used_memory_human`` (``1.78M``)."""
    for unit, scale in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if size >= scale:
            return f"{size / scale:.2f}{unit}"
    return f"{size}B"


def build_store(settings: Settings) -> SessionStore:
    """A store on the shared Redis the settings describe, else on an in-process fake (one process only)."""
    client = build_redis(settings)
    if client is None:
        import fakeredis  # only needed for the embedded default

        log.warning("REDIS_URL is not set: sessions live in this process only (fine for trying the bot)")
        return SessionStore(fakeredis.FakeRedis(), settings, shared=False)
    return SessionStore(client, settings)
