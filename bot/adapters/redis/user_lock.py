"""The per-user FIFO turn lock: turns of one user run one at a time, in the order they arrived.

Each turn pushes a ticket onto the user's queue (``P:lockq:{K}``) and holds the lock while its ticket is at
the head. A ticket carries a heartbeat key (``P:lockalive:{K}:T``) with an expiry, renewed by one thread
per process while its turn waits or runs, so the ticket of a crashed worker expires and the queue moves on.
A turn behind another waits on its own wake list (``P:lockwake:{K}:T``) with ``BLPOP``: the turn before it
pushes there when it releases, so nobody polls.

A turn handed on from a webhook keeps the order its message *arrived* in, not the order a consumer thread happened
to pick it up in: the hand-off reserves the turn's place in the queue (``Reservation``: a ticket whose heartbeat
says 'r', set to expire in the heartbeat's time), and the turn's ``BEGIN`` takes that place up. A reservation nobody
took up is given back when its job ends (the stream entry's ``DONE``, or ``give_back``), or expires like a dead
worker's ticket. Where the hand-off cannot reserve in its own script (a Cluster, the embedded store), ``reserve``
does it on a round trip of its own.

The uncontended case costs one round trip: the ``BEGIN`` script queues the ticket and, at the head, returns
the session and the event's stored result with it (with no session: the state of one that expired mid-flow).
``SessionStore.save(…, ticket=…)`` releases the lock inside the save's own round trip (the ``FINISH`` script).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple, Protocol

import redis

from bot.adapters.redis.errors import unavailable
from bot.adapters.redis.scripts import BEGIN, GIVE_BACK, RELEASE, RESERVE, Scripts
from bot.ports import StoreUnavailable

log = logging.getLogger(__name__)

_WAKE_CHECK_SECONDS = 1.0  # a waiter looks at the head's heartbeat at least this often (its worker may have died)


class LockTimeout(StoreUnavailable):
    """A turn waited too long for the user's previous turn to finish."""


class LockHost(Protocol):
    """What the lock needs of the store it lives beside (``SessionStore`` is one): its client and scripts, the
    shapes of a user's keys, the heartbeat thread, and how long a ticket lives without one."""

    redis: redis.Redis
    scripts: Scripts
    heartbeats: Heartbeats
    lock_timeout_seconds: float

    def user_key(self, kind: str, skey: str, *rest: str) -> str: ...

    def result_key(self, skey: str, event_id: str) -> str: ...

    def session_redis_key(self, skey: str) -> str: ...


class Ticket:
    """A held turn lock; ``preloaded`` is (raw session, raw result, raw expired flow) when the lock came with
    them (the flow only when there is no session)."""

    def __init__(self, store: LockHost, skey: str, token: str) -> None:
        self.store, self.skey, self.token = store, skey, token
        self.queue = store.user_key("lockq", skey)
        self.alive_key = store.user_key("lockalive", skey, token)
        self.wake_prefix = store.user_key("lockwake", skey, "")
        self.preloaded: tuple[bytes | None, bytes | None, bytes | None] | None = None
        self.released = False

    @property
    def wake_key(self) -> str:
        return self.wake_prefix + self.token


class Reservation(NamedTuple):
    """A turn's place in its user's queue, kept from the moment its message arrived (see the module's text)."""

    queue: str
    alive_key: str
    token: str
    wake_prefix: str


PHOTO_MARK = "rp"  # the start of a photo message's token: the turn of a photo before it sees a burst coming


def reservation(store: LockHost, skey: str, event_id: str, photo: bool = False) -> Reservation:
    """The place a message's turn takes up: its token follows from the event (and whether it is a photo), so the
    turn finds it again without being told (and a re-run after a crash, finding it taken, queues at the end like
    any turn)."""
    token = (PHOTO_MARK if photo else "r") + hashlib.blake2b(event_id.encode(), digest_size=8).hexdigest()
    return Reservation(
        store.user_key("lockq", skey),
        store.user_key("lockalive", skey, token),
        token,
        store.user_key("lockwake", skey, ""),
    )


def reserve(store: LockHost, place: Reservation, ttl_ms: int) -> None:
    """Reserve ``place`` on its own round trip, where the hand-off cannot do it in its script (a Cluster, the embedded
    store)."""
    try:
        store.scripts.call(RESERVE.bind(queue=place.queue, alive=place.alive_key, token=place.token, alive_ms=ttl_ms))
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise unavailable(exc) from exc


def give_back(store: LockHost, place: Reservation) -> None:
    """Give ``place`` back if no turn took it up (its job ran no turn, or was never handed on). Best effort: a
    reservation that stays expires in the heartbeat's time."""
    try:
        store.scripts.call(
            GIVE_BACK.bind(queue=place.queue, alive=place.alive_key, token=place.token, wake_prefix=place.wake_prefix)
        )
    except redis.RedisError as exc:  # any: it runs while a failed hand-off's own error is on its way up
        log.warning("could not give back a reserved turn place (%s); it will expire", type(exc).__name__)


@contextmanager
def hold(
    store: LockHost, skey: str, event_id: str | None, wait_seconds: float | None, photo: bool = False
) -> Iterator[Ticket]:
    """Run the body while holding the user's lock (see the module's text); the turn of ``event_id`` takes up the
    place reserved for it as its message arrived, if there is one."""
    ticket = Ticket(store, skey, os.urandom(8).hex())  # unique enough per user queue; uuid4 costs more
    alive_ms = int(store.lock_timeout_seconds * 1000)
    wait = store.lock_timeout_seconds * 2 if wait_seconds is None else wait_seconds
    result_key = store.result_key(skey, event_id) if event_id else ticket.alive_key
    place = reservation(store, skey, event_id, photo) if event_id else None  # else BEGIN skips its GET
    try:
        answer = store.scripts.call(
            BEGIN.bind(
                queue=ticket.queue,
                alive=ticket.alive_key,
                session=store.session_redis_key(skey),
                result=result_key,
                flow=store.user_key("flow", skey),
                place_alive=place.alive_key if place else ticket.alive_key,
                token=ticket.token,
                alive_ms=alive_ms,
                read_result="1" if event_id else "0",
                place_token=place.token if place else "",
            )
        )
        if place is not None and answer[-1] == 1:
            ticket.token, ticket.alive_key = place.token, place.alive_key
        store.heartbeats.add(ticket.token, ticket.alive_key, ticket.queue)
        if answer[0] == 1:
            ticket.preloaded = (answer[1], answer[2], answer[3])
        else:
            _wait_for_head(store, ticket, wait)
    except BaseException as exc:
        store.heartbeats.remove(ticket.token)
        release(ticket)
        if isinstance(exc, (redis.ConnectionError, redis.TimeoutError)):
            raise unavailable(exc) from exc
        raise
    try:
        yield ticket
    finally:
        store.heartbeats.remove(ticket.token)
        if not ticket.released:
            release(ticket)


def photos_behind(store: LockHost, ticket: Ticket) -> bool:
    """Is a photo of this user queued behind this turn, still alive (its message arrived, its turn is to come)?
    One round trip, and a second only when a photo's place is there."""
    queued: list[bytes] = store.redis.lrange(ticket.queue, 0, -1)  # type: ignore[assignment]
    tokens = [token.decode() for token in queued]
    later = tokens[tokens.index(ticket.token) + 1 :] if ticket.token in tokens else []
    photos = [token for token in later if token.startswith(PHOTO_MARK)]
    if not photos:
        return False
    return bool(store.redis.exists(*(store.user_key("lockalive", ticket.skey, token) for token in photos)))


def _wait_for_head(store: LockHost, ticket: Ticket, wait_seconds: float) -> None:
    r = store.redis
    deadline = time.monotonic() + wait_seconds
    while True:
        head: bytes | None = r.lindex(ticket.queue, 0)  # type: ignore[assignment]
        if head is None:
            # The queue expired under us (a very long wait): queue again at the end.
            r.rpush(ticket.queue, ticket.token)
            continue
        head_token = head.decode()
        if head_token == ticket.token:
            return
        if not r.exists(store.user_key("lockalive", ticket.skey, head_token)):
            # Either the head released just now (its ticket is gone already: nothing to remove), or its
            # worker died without releasing: drop its ticket (tokens are unique, so two waiters removing
            # the same dead ticket is harmless).
            if r.lrem(ticket.queue, 1, head_token):
                log.warning("dropped an expired lock ticket", extra={"session": ticket.skey})
            continue
        left = deadline - time.monotonic()
        if left <= 0:
            raise LockTimeout(f"waited {wait_seconds:.0f}s for the previous turn")
        r.blpop([ticket.wake_key], timeout=max(0.01, min(left, _WAKE_CHECK_SECONDS)))


def release(ticket: Ticket) -> None:
    """Give the lock up outside a save (a turn that saved nothing, or failed), waking the next turn."""
    try:
        ticket.store.scripts.call(
            RELEASE.bind(queue=ticket.queue, alive=ticket.alive_key, token=ticket.token, wake_prefix=ticket.wake_prefix)
        )
        ticket.released = True
    except (redis.ConnectionError, redis.TimeoutError):
        # Its heartbeat is no longer renewed, so the ticket expires on its own.
        log.warning("could not release a lock ticket; it will expire", extra={"session": ticket.skey})


class Heartbeats:
    """Renews the heartbeat of every lock ticket this process holds or waits with.

    One daemon thread per store (started on first use), not one per turn: starting a thread
    is a large part of a turn's own time.
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
                pipe: Any = self._redis.pipeline(transaction=False)
                for alive_key, queue in tickets:
                    pipe.pexpire(alive_key, self._alive_ms)
                    pipe.pexpire(queue, self._alive_ms * 4)
                pipe.execute()
            except (redis.ConnectionError, redis.TimeoutError):
                log.warning("lock heartbeat failed; will retry")
