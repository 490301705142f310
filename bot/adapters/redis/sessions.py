"""``Sessions`` on Redis: a turn's storage life — the user's FIFO lock, the session and a repeat's stored answer
brought with it, the save that ends the turn — owned here, with the lock released in one place.

``begin`` queues the turn for the user's lock (``user_lock.hold``: one round trip, ``BEGIN``, that also brings the
session, the message's stored result and the flow of an expired session). The turn ends in exactly one of three
ways, each one round trip: ``commit`` (the save releases the lock: ``SAVE``/``FINISH``), ``answered`` after a commit
that kept it (``ANSWER``: the result shrinks to a marker), or leaving the block (``RELEASE``).
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any

from bot.adapters.redis.store import SessionStore
from bot.adapters.redis.user_lock import Ticket, photos_behind
from bot.session import Session
from bot.turn_storage import Sessions, TurnStore


class RedisTurn(TurnStore):
    """One turn's storage, from entering the ``with`` block (the user's lock, and what the turn starts from) to
    leaving it (the lock released, unless ``commit`` or ``answered`` did)."""

    def __init__(self, store: SessionStore, key: str, message_id: str | None, answering: bool, photo: bool) -> None:
        self._store, self._key, self._message_id, self._answering = store, key, message_id, answering
        self._photo = photo
        self.repeat: dict[str, Any] | None = None
        self.session: Session | None = None

    def __enter__(self) -> RedisTurn:
        # A message handed on from a webhook may have had its place in the user's queue reserved as it arrived
        # (``user_lock.Reservation``): the turn takes that place up, so turns run in the order messages arrived.
        self._lock = self._store.lock(self._key, event_id=self._message_id, photo=self._photo)
        self._ticket: Ticket = self._lock.__enter__()
        try:
            self.repeat, self.session = self._store.open_turn(self._key, self._message_id, self._ticket)
        except BaseException:
            self._lock.__exit__(*sys.exc_info())
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._lock.__exit__(kind, error, trace)

    def expired_flow(self) -> tuple[str, int] | None:
        return self._store.expired_flow(self._key, self._ticket)

    def seconds_left(self) -> int | None:
        return self._store.ttl(self._key)

    def photos_behind(self) -> bool:
        return photos_behind(self._store, self._ticket)

    def commit(self, session: Session, result: dict[str, Any] | None = None, *, ttl_seconds: int | None = None) -> None:
        remembered = (self._message_id, result) if self._message_id and result else None
        self._store.save(session, ttl_seconds, result=remembered, ticket=None if self._answering else self._ticket)

    def answer_once(self) -> bool:
        return bool(self._message_id) and self._store.settle_result(self._key, self._message_id or "")

    def answered(self, remembered: bool = True) -> None:
        self._store.answered(self._key, self._message_id if remembered else None, self._ticket)


class RedisSessions(Sessions):
    def __init__(self, store: SessionStore) -> None:
        self.store = store

    def begin(
        self, key: str, message_id: str | None = None, *, answering: bool = False, photo: bool = False
    ) -> RedisTurn:
        return RedisTurn(self.store, key, message_id, answering, photo)
