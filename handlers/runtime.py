"""What the edge holds while the app runs: settings, the store, the engine and the job dispatcher."""

from __future__ import annotations

import functools
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from bot.config import Settings
from bot.conversation import Conversation, Engine, Services
from bot.observe import Observer
from bot.orders import build_orders
from bot.outbox import Outbox
from bot.ports import ObjectStore, Vlm, WorkOrders
from bot.redis_client import rq_client
from bot.storage import build_storage
from bot.store import SessionStore, build_store
from bot.user_lock import Reservation, give_back, reservation, reserve
from bot.vlm import build_vlm
from handlers.courier import Courier
from handlers.duty import DutySink
from handlers.logs import ContextualEngine
from handlers.metrics import PrometheusObserver
from handlers.order_webhook import OrderWebhook
from handlers.platforms import PLATFORMS, PlatformModule
from handlers.platforms.edge import run_turn, session_of
from handlers.platforms.outbound import Outage, RetryPolicy
from handlers.recent_claims import RecentClaims
from handlers.turn_queue import QueueFull, Taken, TurnQueue, TurnWorkers

log = logging.getLogger(__name__)

_UNSET: Any = object()


@dataclass
class Runtime:
    settings: Settings
    store: SessionStore
    services: Services
    engine: Engine  # wrapped so every log line of a turn names the user
    platforms: dict[str, PlatformModule] = field(default_factory=lambda: dict(PLATFORMS))
    _workers: TurnWorkers | None = None
    _queue: Any = None
    _pool_guard: threading.Lock = field(default_factory=threading.Lock)
    outbox: Outbox | None = None  # order events, when DUTY_ROUTES or ORDER_WEBHOOK_URL give them somewhere to go
    _courier: Courier | None = None

    @functools.cached_property
    def _outages(self) -> dict[str, Outage]:
        return {platform: Outage(platform) for platform in self.platforms}

    def reply_policy(self, platform: str) -> RetryPolicy:
        """How a turn's replies are retried on ``platform``: as usual, but not while its API is down (``Outage``)."""
        return RetryPolicy(outage=self._outages.get(platform))

    @functools.cached_property
    def recent_claims(self) -> RecentClaims:
        return RecentClaims(self.settings.dedupe_ttl_seconds)

    def take(self, platform: str, idents: tuple[str, ...], job: dict[str, Any]) -> Taken:
        """Claim an event's ids: SEEN if they were claimed before, else CLAIMED (hand it on with ``dispatch``,
        then ``recent_claims.remember`` it) or, in thread mode on one Redis, QUEUED: claimed and handed on in the
        same round trip, and remembered here.

        Raises StoreUnavailable when Redis cannot be reached, QueueFull when the hand-off is full (the claims
        are given back)."""
        if not idents:
            return Taken.CLAIMED  # nothing to deduplicate by
        if self.recent_claims.holds(platform, idents):
            return Taken.SEEN
        ttl = self.settings.dedupe_ttl_seconds
        if self.claims_are_final:
            asked_at = time.monotonic()
            claims = [self.store.seen_key(platform, ident) for ident in idents]
            queued = self.turn_queue.add_claimed(platform, job, claims, ttl, *self._place_of(job))
            # Queued here, or queued by another process: either way a claim no one gives back (``RecentClaims``).
            self.recent_claims.remember(platform, idents, asked_at)
            self.start_workers()
            return Taken.QUEUED if queued else Taken.SEEN
        return Taken.CLAIMED if self.store.claim_all(platform, idents, ttl) else Taken.SEEN

    def _place_of(self, job: dict[str, Any]) -> tuple[Reservation | None, int]:
        """The place in its user's lock queue that ``job``'s turn is to keep (``bot.user_lock``), reserved as it
        arrives, and for how long (as a turn's heartbeat)."""
        skey, event_id = session_of(job), job.get("event_id")
        if not skey or not event_id:
            return None, 0
        return reservation(self.store, skey, event_id), int(self.store.lock_timeout_seconds * 1000)

    @property
    def claims_are_final(self) -> bool:
        """Are claims made in the same script as the hand-off (thread mode on one Redis)? Then a claim anyone
        can see stays for the whole dedupe TTL: only that script gives claims back, in the same step, when the
        queue is full. Elsewhere a process claims first and gives its claim back if the hand-off fails."""
        return self.settings.worker_mode == "thread" and self.turn_queue.takes_claims

    def dispatch(self, platform: str, job: dict[str, Any]) -> None:
        """Hand the turn of ``job`` on durably, before the webhook answers; raise QueueFull when full.

        Thread mode: a Redis stream that consumer threads of every web process read (a process
        that dies mid-turn leaves it to the others). RQ mode: a job on Redis for ``rq worker``
        processes, retried if its worker dies, so web and worker processes scale apart.
        """
        # The turn's place in its user's queue, reserved before the hand-off (its own round trip here), and given
        # back by ``run_job_logged`` when no turn took it up; given back at once if the hand-off fails.
        place, ttl_ms = self._place_of(job)
        if place is not None:
            reserve(self.store, place, ttl_ms)
            job = {**job, "place": list(place)}
        try:
            self._hand_on(platform, job)
        except BaseException:
            if place is not None:
                give_back(self.store, place)
            raise

    def _hand_on(self, platform: str, job: dict[str, Any]) -> None:
        if self.settings.worker_mode == "rq":
            queue = self._rq_queue()
            if queue.count >= self.settings.turn_queue_max:
                raise QueueFull(f"{self.settings.turn_queue_max} turns waiting")
            from rq import Retry  # rq is imported only where RQ mode is on

            queue.enqueue("handlers.worker.run_job", platform, job, job_timeout=300, retry=Retry(max=2))
            return
        self.turn_queue.add(platform, job)
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
        """Start this process's consumer threads (thread mode), once."""
        if self._workers is not None:  # every webhook calls this: no lock once they run
            return
        with self._pool_guard:  # two first requests at once must not start two sets
            if self._workers is None:
                self._workers = TurnWorkers(
                    self.turn_queue,
                    self.settings.worker_threads,
                    lambda platform, job: run_job_logged(self, platform, job),
                )

    def start_courier(self) -> None:
        """Start this process's courier (order events and the escalation sweep), once, if there is an outbox."""
        if self.outbox is None or self._courier is not None:
            return
        with self._pool_guard:
            if self._courier is None:
                self._courier = Courier(self, self.outbox)

    def _rq_queue(self) -> Any:
        if self._queue is None:
            from rq import Queue

            connection = rq_client(self.settings, self.store.redis)
            self._queue = Queue(self.store.key("turns-queue"), connection=connection)
        return self._queue

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
        if workers is not None:
            workers.stop(timeout)
        if courier is not None:
            courier.stop()


def run_job_logged(runtime: Runtime, platform: str, job: dict[str, Any]) -> None:
    try:
        run_turn(runtime, runtime.platforms[platform], job)
    except Exception:
        log.exception("background turn failed", extra={"platform": platform})
    finally:
        if isinstance(place := job.get("place"), list) and len(place) == len(Reservation._fields):
            give_back(runtime.store, Reservation(*place))  # reserved by ``dispatch``; a no-op if the turn took it


def build_runtime(
    settings: Settings,
    *,
    store: SessionStore | None = None,
    vlm: Vlm | None = _UNSET,
    storage: ObjectStore | None = None,
    orders: WorkOrders | None = None,
    observer: Observer | None = None,
) -> Runtime:
    """Build every port from settings unless a test hands one in."""
    store = store or build_store(settings)
    # Metrics and the per-turn log context belong to every process that runs turns: web and RQ workers.
    observer = observer or PrometheusObserver()
    services = Services(
        settings=settings,
        store=store,
        storage=storage or build_storage(settings),
        orders=orders or build_orders(settings),
        vlm=build_vlm(settings, on_call=observer.vlm_call) if vlm is _UNSET else vlm,
        observer=observer,
    )
    engine = ContextualEngine(Conversation(services))
    runtime = Runtime(settings, store, services, engine)
    if settings.duty_routes or settings.order_webhook_url:
        outbox = Outbox(store.redis, store.key, (), retry_base_seconds=settings.order_webhook_retry_base_seconds)
        if settings.duty_routes:
            outbox.add_sink(DutySink(runtime))
        if settings.order_webhook_url:
            outbox.add_sink(OrderWebhook(settings.order_webhook_url, settings.order_webhook_secret, services.storage))
        runtime.outbox = services.events = outbox
    return runtime
