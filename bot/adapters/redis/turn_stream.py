"""The durable hand-off between a webhook's 200 and its turn: a Redis stream with a consumer group.

The webhook adds the job to the stream *before* it acks, so an acked event outlives the process that
took it. Each process runs consumer threads; an entry a process read and never finished (SIGKILL,
OOM, a lost node) stays pending and is claimed by any live process once it has been idle for
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
from bot.adapters.redis.scripts import GIVE_BACK_STEPS, Scripts, script
from bot.adapters.redis.store import guarded
from bot.adapters.redis.user_lock import Reservation

log = logging.getLogger(__name__)

GROUP = "turns"
MAX_DELIVERIES = 5  # a job that took its process down this often is dropped, not retried for ever
_BLOCK_MS = 1000


# A webhook's claims and its hand-off in one round trip (one Redis, not a Cluster: the claims and the stream are
# in different slots), with the turn's place in its user's lock queue reserved in the same step, so that turns run
# in the order their messages arrived (``bot.adapters.redis.user_lock``). KEYS: the stream, the user's lock queue, the
# reservation's
# heartbeat, then the event's claims. ARGV: claim TTL, the bound, the reservation's token ('' none) and time to
# live (ms), then the entry's fields. Every claim is tried (as two round trips would); 0 if any was held already,
# -1 when the stream is at its bound (the claims are given back, so the platform's retry is taken), else the new
# entry's id.
ACCEPT = script(
    """
local fresh = true
for i = 4, #KEYS do
  if not redis.call('SET', KEYS[i], '1', 'NX', 'EX', ARGV[1]) then fresh = false end
end
if not fresh then return 0 end
if redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[2]) then
  for i = 4, #KEYS do redis.call('DEL', KEYS[i]) end
  return -1
end
if ARGV[3] ~= '' then
  redis.call('RPUSH', KEYS[2], ARGV[3])
  redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[4]) * 4)
  redis.call('SET', KEYS[3], 'r', 'PX', ARGV[4])
end
return redis.call('XADD', KEYS[1], '*', unpack(ARGV, 5))
"""
)


# A finished entry: acknowledged and deleted together (the stream's length is what is unfinished), in one step.
# KEYS: the stream, then (when its turn's place was reserved) the user's lock queue and the reservation's heartbeat.
# ARGV: the group, the entry, then the reservation's token and wake-key prefix. A reservation still marked 'r'
# was never taken up (a tap that ran no turn, a turn that failed before its lock): given back, waking the next.
DONE = script(
    """
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
if ARGV[3] then
"""
    + GIVE_BACK_STEPS.format(q=2, a=3, t=3, w=4)
    + """
end
return 1
"""
)


class Taken(enum.Enum):
    """What became of a platform event at the webhook (``Runtime.take``)."""

    SEEN = "seen"  # a redelivery: answer 200, do nothing
    CLAIMED = "claimed"  # new: hand it on (``Runtime.dispatch``), give the claims back if that fails
    QUEUED = "queued"  # new, and already handed on in the claim's round trip


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

    def add(self, platform: str, job: dict[str, Any]) -> str:
        """Store the job durably; raise QueueFull when the stream is at its bound."""
        self._ensure_group()
        # One round trip: add, and learn how many were waiting before; over the bound, take it back.
        waiting, entry_id = self.line.send(
            [("XLEN", self.key), ("XADD", self.key, "*", "platform", platform, "job", orjson.dumps(job))],
            raise_on_error=True,
        )
        entry = _text(entry_id)
        if waiting >= self.max_len:
            self.redis.xdel(self.key, entry)
            raise QueueFull(f"{self.max_len} turns waiting")
        return entry

    @property
    def takes_claims(self) -> bool:
        """Can ``add_claimed`` claim and add in one round trip here (one Redis, not a Cluster)?"""
        return self.line.direct

    @guarded
    def add_claimed(
        self,
        platform: str,
        job: dict[str, Any],
        claims: list[str],
        claim_ttl: int,
        place: Reservation | None = None,
        place_ttl_ms: int = 0,
    ) -> bool:
        """Claim ``claims`` (SET NX EX) and, if none was held, add the job and reserve its turn's ``place`` in
        the user's lock queue: one round trip. False: seen before. QueueFull when the stream is at its bound (the
        claims are given back); StoreUnavailable when Redis cannot be reached."""
        self._ensure_group()
        fields: list[Any] = ["platform", platform, "job", orjson.dumps(job)]
        if place is not None:
            fields += ["place", orjson.dumps(list(place))]  # for ``done``, which gives it back if no turn took it up
        answer = self.scripts.call(
            ACCEPT,
            [self.key, place.queue if place else self.key, place.alive_key if place else self.key, *claims],
            [claim_ttl, self.max_len, place.token if place else "", place_ttl_ms, *fields],
        )
        if answer == -1:
            raise QueueFull(f"{self.max_len} turns waiting")
        return bool(answer != 0)

    def take(self, consumer: str, *, reclaim: bool) -> tuple[str, str, dict[str, Any]] | None:
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

    def _decode(self, entry_id: Any, fields: dict[Any, Any]) -> tuple[str, str, dict[str, Any]]:
        values = {_text(k): _text(v) for k, v in fields.items()}
        entry = _text(entry_id)
        if "place" in values:
            self._places[entry] = Reservation(*orjson.loads(values["place"]))
        return entry, values["platform"], orjson.loads(values["job"])

    def done(self, entry_id: str) -> None:
        """The entry is finished: acknowledged and deleted, and its turn's reserved place given back if no turn
        took it up."""
        place = self._places.pop(entry_id, None)
        if place is None:
            self.scripts.call(DONE, [self.key], [GROUP, entry_id])
        else:
            self.scripts.call(
                DONE, [self.key, place.queue, place.alive_key], [GROUP, entry_id, place.token, place.wake_prefix]
            )

    def touch(self, consumer: str, entry_ids: list[str]) -> None:
        """Reset the idle time of entries still being worked on, so no other process claims them."""
        if entry_ids:
            self.redis.xclaim(self.key, GROUP, consumer, 0, entry_ids, justid=True)

    def unfinished(self) -> int:
        return int(self.redis.xlen(self.key))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _pairs(flat: list[Any]) -> dict[Any, Any]:
    return dict(zip(flat[::2], flat[1::2], strict=True))
