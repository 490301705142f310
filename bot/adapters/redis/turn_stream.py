"""The durable hand-off between a webhook's 200 and its turn: a Redis stream with a consumer group.

The webhook adds the job to the stream *before* it acks, so an acked event outlives the process that
took it. Each process runs consumer threads; an entry a process read and never finished (SIGKILL,
OOM, a lost node) stays pending and is taken over by any live process once it has been idle for
``visibility`` seconds (``XAUTOCLAIM``). A live process keeps its in-flight entries fresh (``XCLAIM``
by the heartbeat) so a slow turn is never taken from under it. Running a turn twice is safe: the
engine keeps each message's result, and ``handlers.runner.turns.run_turn`` sends a stored answer only if it was not
sent. The stream is bounded: when it holds ``max_len`` unfinished entries ``add`` raises
:class:`QueueFull` and the webhook answers 503, so the platform retries later.
"""

from __future__ import annotations

import enum
import logging
from typing import Any

import orjson
import redis

from bot.adapters.redis.direct import Line
from bot.adapters.redis.scripts import ACCEPT, DONE, GIVE_BACK, Call, Scripts
from bot.adapters.redis.store import guarded
from bot.adapters.redis.user_lock import Reservation

log = logging.getLogger(__name__)

GROUP = "turns"
MAX_DELIVERIES = 5  # a job that took its process down this often is dropped, not retried for ever
_BLOCK_MS = 1000


class Taken(enum.Enum):
    """What became of a platform event at the webhook (``Runtime.take``)."""

    SEEN = "seen"  # a redelivery: answer 200, do nothing
    MARKED = "marked"  # new: hand it on (``Runtime.hand_on``), take the marks back if that fails
    QUEUED = "queued"  # new, and already handed on in the marks' round trip


class QueueFull(Exception):
    """The stream holds as many unfinished turns as it may; the webhook answers 503."""


class TurnQueue:
    def __init__(
        self, client: redis.Redis, key: str, *, max_len: int, visibility_seconds: float, line: Line | None = None
    ) -> None:
        self.redis: Any = client  # redis-py's stream replies are typed loosely; we read them as documented
        self.line = line or Line(client)  # ``add`` runs in every webhook: its round trip goes direct
        self.scripts = Scripts(client, self.line)
        self.key = key
        self.max_len, self.visibility_ms = max_len, int(visibility_seconds * 1000)
        self._group_ready = False
        # The reserved lock places of entries taken and not yet done, for ``done`` (a dict's set and pop are atomic)
        self._places: dict[str, Reservation] = {}

    def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            self.redis.xgroup_create(self.key, GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    def forget_group(self) -> None:
        self._group_ready = False

    def add(self, platform: str, job: bytes, place: Reservation | None = None) -> str:
        """Store the job durably, with its turn's reserved ``place`` for ``done`` to give back if no turn took it
        up; raise QueueFull when the stream is at its bound."""
        self._ensure_group()
        # One round trip: add, and learn how many were waiting before; over the bound, take it back.
        waiting, entry_id = self.line.send(
            [("XLEN", self.key), ("XADD", self.key, "*", *_fields(platform, job, place))], raise_on_error=True
        )
        entry = _text(entry_id)
        if waiting >= self.max_len:
            self.redis.xdel(self.key, entry)
            raise QueueFull(f"{self.max_len} turns waiting")
        return entry

    @property
    def takes_marks(self) -> bool:
        """Can ``add_marked`` mark and add in one round trip here (one Redis, not a Cluster)?"""
        return self.line.direct

    @guarded
    def add_marked(
        self,
        platform: str,
        job: bytes,
        marks: list[str],
        mark_ttl: int,
        place: Reservation | None = None,
        place_ttl_ms: int = 0,
    ) -> bool:
        """Mark ``marks`` (SET NX EX) and, if none was there, add the job and reserve its turn's ``place`` in
        the user's lock queue: one round trip. False: seen before. QueueFull when the stream is at its bound (the
        marks are taken back); StoreUnavailable when Redis cannot be reached."""
        self._ensure_group()
        answer = self.scripts.call(
            ACCEPT.bind(
                rest_keys=tuple(marks),
                rest_args=tuple(_fields(platform, job, place)),
                stream=self.key,
                queue=place.queue if place else self.key,
                place_alive=place.alive_key if place else self.key,
                mark_ttl=mark_ttl,
                max_len=self.max_len,
                place_token=place.token if place else "",
                place_ttl_ms=place_ttl_ms,
            )
        )
        if answer == -1:
            raise QueueFull(f"{self.max_len} turns waiting")
        return bool(answer != 0)

    def take(self, consumer: str, *, reclaim: bool) -> tuple[str, str, bytes] | None:
        """The next entry for ``consumer``: an abandoned one (when ``reclaim``) or a new one; None if idle."""
        self._ensure_group()
        if reclaim:
            _, claimed, *_ = self.redis.xautoclaim(
                self.key, GROUP, consumer, min_idle_time=self.visibility_ms, start_id="0-0", count=1
            )
            for entry_id, fields in claimed:
                taken = self._decode(entry_id, fields)
                if self._delivered_too_often(entry_id):
                    continue
                log.warning("took over an abandoned turn %s", _text(entry_id))
                return taken
        # On the thread's direct connection (each consumer thread has its own, so blocking there is fine).
        read = ("XREADGROUP", "GROUP", GROUP, consumer, "COUNT", 1, "BLOCK", _BLOCK_MS, "STREAMS", self.key, ">")
        (answer,) = self.line.send([read], raise_on_error=True)
        # Raw from the direct connection ({stream: entries} in RESP3, [[stream, entries]] in RESP2, an entry's fields
        # a flat list) or shaped by redis-py (on a Cluster: the fields a dict).
        streams = answer.items() if isinstance(answer, dict) else answer or []
        for _stream, entries in streams:
            for entry_id, fields in entries:
                return self._decode(entry_id, fields if isinstance(fields, dict) else _pairs(fields))
        return None

    def _delivered_too_often(self, entry_id: Any) -> bool:
        pending = self.redis.xpending_range(self.key, GROUP, min=entry_id, max=entry_id, count=1)
        if pending and pending[0]["times_delivered"] > MAX_DELIVERIES:
            log.error("turn %s dropped after %d deliveries", _text(entry_id), MAX_DELIVERIES)
            self.done(_text(entry_id))
            return True
        return False

    def _decode(self, entry_id: Any, fields: dict[Any, Any]) -> tuple[str, str, bytes]:
        values = {_text(k): v for k, v in fields.items()}
        entry, job = _text(entry_id), values["job"]
        job = job if isinstance(job, bytes) else str(job).encode()
        place = _place(values.get("place"), job)
        if place is not None:
            self._places[entry] = place
        return entry, _text(values["platform"]), job

    def done(self, entry_id: str) -> None:
        """The entry is finished: acknowledged and deleted, and its turn's reserved place given back if no turn
        took it up — in one script on one Redis; on a Cluster (the stream and the user's keys are in different
        slots) in two, sent in one round trip."""
        place = self._places.pop(entry_id, None)
        calls: list[Call] = []
        if place is not None and not self.line.direct:
            calls.append(
                GIVE_BACK.bind(
                    queue=place.queue, alive=place.alive_key, token=place.token, wake_prefix=place.wake_prefix
                )
            )
            place = None
        here = place or Reservation(self.key, self.key, "", "")  # no place: the script gives nothing back
        calls.append(
            DONE.bind(
                stream=self.key,
                queue=here.queue,
                place_alive=here.alive_key,
                group=GROUP,
                entry=entry_id,
                place_token=here.token,
                wake_prefix=here.wake_prefix,
            )
        )
        self.scripts.run(calls)

    def touch(self, consumer: str, entry_ids: list[str]) -> None:
        """Reset the idle time of entries still being worked on, so no other process takes them over."""
        if entry_ids:
            self.redis.xclaim(self.key, GROUP, consumer, 0, entry_ids, justid=True)

    def unfinished(self) -> int:
        return int(self.redis.xlen(self.key))


def _fields(platform: str, job: bytes, place: Reservation | None) -> list[Any]:
    """An entry's fields: the job, and its reserved place for ``done``, which gives it back if no turn took it up."""
    fields: list[Any] = ["platform", platform, "job", job]
    if place is not None:
        fields += ["place", orjson.dumps(list(place))]
    return fields


def _place(field: Any, job: bytes) -> Reservation | None:
    """An entry's reserved place: its own field, or (an entry of the version that kept it in the job) the job's
    ``place``; None when there is none or it does not read as one (its reservation then expires on its own)."""
    if field is None and b'"place"' not in job:
        return None
    try:
        found = orjson.loads(field) if field is not None else orjson.loads(job).get("place")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return Reservation(*found) if isinstance(found, list) and len(found) == len(Reservation._fields) else None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _pairs(flat: list[Any]) -> dict[Any, Any]:
    return dict(zip(flat[::2], flat[1::2], strict=True))
