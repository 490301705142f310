"""What the edge holds while the app runs: settings, the store, the engine, intake and the turn consumers.

Built by ``handlers.runner.bootstrap.build_runtime``, which also gives it what runs a job and the courier: this
module imports neither, so the modules that take a ``Runtime`` never import back into what builds them.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from bot.adapters.redis.outbox import Outbox
from bot.adapters.redis.store import SessionStore
from bot.adapters.redis.turn_stream import Taken, TurnQueue
from bot.adapters.redis.user_lock import Reservation, give_back, reservation, reserve
from bot.config import Settings
from bot.dialogue.engine import Engine, Services
from handlers.platforms.base import PlatformModule
from handlers.platforms.job import Job
from handlers.platforms.outbound import Outage, RetryPolicy
from handlers.platforms.registry import PLATFORMS
from handlers.runner.consumers import TurnWorkers
from handlers.runner.recent_marks import RecentMarks

log = logging.getLogger(__name__)


class Stoppable(Protocol):
    def stop(self) -> None: ...


@dataclass
class Runtime:
    settings: Settings
    store: SessionStore
    services: Services
    engine: Engine  # wrapped so every log line of a turn names the user
    platforms: dict[str, PlatformModule] = field(default_factory=lambda: dict(PLATFORMS))
    run_job: Callable[[str, bytes], None] | None = None  # one handed-on job (``bootstrap.run_job_logged``)
    courier: Callable[[Runtime], Stoppable] | None = None  # starts this process's courier (``bootstrap``)
    _workers: TurnWorkers | None = None
    _pool_guard: threading.Lock = field(default_factory=threading.Lock)
    consumes: bool = False  # runs turns whatever WORKER_MODE says (the ``turns work`` command)
    outbox: Outbox | None = None  # order events, when DUTY_ROUTES or ORDER_WEBHOOK_URL give them somewhere to go
    _courier: Stoppable | None = None
    digest: Callable[[Runtime], Stoppable] | None = None  # starts this process's digest clock (DIGEST_ROUTES)
    _digest: Stoppable | None = None

    @functools.cached_property
    def _outages(self) -> dict[str, Outage]:
        return {platform: Outage(platform) for platform in self.platforms}

    def reply_policy(self, platform: str) -> RetryPolicy:
        """How a turn's replies are retried on ``platform``: as usual, but not while its API is down (``Outage``)."""
        return RetryPolicy(outage=self._outages.get(platform))

    @functools.cached_property
    def recent_marks(self) -> RecentMarks:
        return RecentMarks(self.settings.dedupe_ttl_seconds)

    def take(self, platform: str, idents: tuple[str, ...], job: Job) -> Taken:
        """Mark an event's ids: SEEN if they were marked before, else MARKED (hand it on with ``hand_on``,
        then ``recent_marks.remember`` it) or, on one Redis, QUEUED: marked and handed on in the same round trip,
        and remembered here.

        Raises StoreUnavailable when Redis cannot be reached, QueueFull when the hand-off is full (the marks
        are taken back)."""
        if not idents:
            return Taken.MARKED  # nothing to deduplicate by
        if self.recent_marks.holds(platform, idents):
            return Taken.SEEN
        ttl = self.settings.dedupe_ttl_seconds
        if self.marks_are_final:
            asked_at = time.monotonic()
            marks = [self.store.mark_key(platform, ident) for ident in idents]
            queued = self.turn_queue.add_marked(platform, job.to_json(), marks, ttl, *self._place_of(job))
            # Queued here, or queued by another process: either way a mark no one gives back (``RecentMarks``).
            self.recent_marks.remember(platform, idents, asked_at)
            self.start_workers()
            return Taken.QUEUED if queued else Taken.SEEN
        return Taken.MARKED if self.store.mark_all(platform, idents, ttl) else Taken.SEEN

    def _place_of(self, job: Job) -> tuple[Reservation | None, int]:
        """The place in its user's lock queue that ``job``'s turn is to keep (``bot.adapters.redis.user_lock``),
        reserved as it arrives, and for how long (as a turn's heartbeat)."""
        if not job.user or not job.event_id:
            return None, 0
        place = reservation(self.store, job.session_key, job.event_id, photo=bool(job.images))
        return place, int(self.store.lock_timeout_seconds * 1000)

    @property
    def marks_are_final(self) -> bool:
        """Are marks made in the same script as the hand-off (on one Redis, not a Cluster)? Then a mark anyone
        can see stays for the whole dedupe TTL: only that script gives marks back, in the same step, when the
        queue is full. Elsewhere a process marks first and takes its mark back if the hand-off fails."""
        return self.turn_queue.takes_marks

    def hand_on(self, platform: str, job: Job) -> None:
        """Hand the turn of ``job`` on durably, before the webhook answers; raise QueueFull when full.

        A Redis stream that the consumers of every process read (web processes in thread mode, the ``worker``
        processes in worker mode); a process that dies mid-turn leaves its entries to the others.
        """
        # The turn's place in its user's queue, reserved before the hand-off (its own round trip here), and given
        # back with the stream entry's ``DONE`` when no turn took it up; given back at once if the hand-off fails.
        place, ttl_ms = self._place_of(job)
        if place is not None:
            reserve(self.store, place, ttl_ms)
        try:
            self.turn_queue.add(platform, job.to_json(), place)
        except BaseException:
            if place is not None:
                give_back(self.store, place)
            raise
        self.start_workers()

    @functools.cached_property
    def turn_queue(self) -> TurnQueue:
        s = self.settings
        key = self.store.key("turns-stream")
        return TurnQueue(
            self.store.redis,
            key,
            max_len=s.turn_queue_max,
            visibility_seconds=s.turn_visibility_seconds,
            line=self.store.line,
        )

    def start_workers(self) -> None:
        """Start this process's consumer threads, once (thread mode: on the first webhook; worker mode: by the
        ``turns work`` command). A web process in worker mode runs none."""
        if self._workers is not None or self.run_job is None:  # every webhook calls this: no lock once they run
            return
        if self.settings.worker_mode != "thread" and not self.consumes:
            return
        with self._pool_guard:  # two first requests at once must not start two sets
            if self._workers is None:
                self._workers = TurnWorkers(self.turn_queue, self.settings.worker_threads, self.run_job)

    def start_courier(self) -> None:
        """Start this process's courier (order events and the escalation sweep), once, if there is an outbox; and
        its digest clock, once, if DIGEST_ROUTES names chats."""
        with self._pool_guard:
            if self.digest is not None and self._digest is None:
                self._digest = self.digest(self)
            if self.outbox is not None and self.courier is not None and self._courier is None:
                self._courier = self.courier(self)

    def drain(self, timeout: float = 60.0) -> None:
        """Wait until every turn handed on has finished (tests)."""
        if self._workers is None:
            return
        deadline = time.monotonic() + timeout
        while self.turn_queue.unfinished() and time.monotonic() < deadline:
            time.sleep(0.005)

    def stop(self, timeout: float = 25.0) -> None:
        """Graceful stop: finish the running turns (up to ``timeout``), leave the rest in the stream."""
        with self._pool_guard:
            workers, self._workers = self._workers, None
            courier, self._courier = self._courier, None
            clock, self._digest = self._digest, None
        if workers is not None:
            workers.stop(timeout)
        for stoppable in (courier, clock):
            if stoppable is not None:
                stoppable.stop()
