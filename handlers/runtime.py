"""What the edge holds while the app runs: settings, the store, the engine and the job dispatcher."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from bot.config import Settings
from bot.conversation import Conversation, Engine, Services
from bot.observe import Observer
from bot.orders import build_orders
from bot.ports import ObjectStore, Vlm, WorkOrders
from bot.storage import build_storage
from bot.store import SessionStore, build_store
from bot.vlm import build_vlm
from handlers.logs import ContextualEngine
from handlers.metrics import PrometheusObserver
from handlers.platforms import PLATFORMS, PlatformModule
from handlers.platforms.edge import run_turn

log = logging.getLogger(__name__)

_UNSET: Any = object()


@dataclass
class Runtime:
    settings: Settings
    store: SessionStore
    services: Services
    engine: Engine  # wrapped so every log line of a turn names the user
    platforms: dict[str, PlatformModule] = field(default_factory=lambda: dict(PLATFORMS))
    _executor: ThreadPoolExecutor | None = None
    _queue: Any = None
    _pool_guard: threading.Lock = field(default_factory=threading.Lock)

    def dispatch(self, platform: str, job: dict[str, Any]) -> None:
        """Run the turn of ``job`` for ``platform`` after the webhook has answered.

        Thread mode: a pool inside this process. RQ mode: a job on Redis for ``rq worker``
        processes, so web and worker processes scale apart (jobs are plain JSON-able dicts).
        """
        if self.settings.worker_mode == "rq":
            self._rq_queue().enqueue("handlers.worker.run_job", platform, job, job_timeout=300)
            return
        with self._pool_guard:  # two first requests at once must not make two pools
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.settings.worker_threads, thread_name_prefix="turn")
            executor = self._executor
        executor.submit(run_job_logged, self, platform, job)

    def _rq_queue(self) -> Any:
        if self._queue is None:
            from rq import Queue

            self._queue = Queue(self.store.key("turns-queue"), connection=self.store.redis)
        return self._queue

    def drain(self) -> None:
        """Wait for background turns to finish (tests and shutdown)."""
        with self._pool_guard:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)


def run_job_logged(runtime: Runtime, platform: str, job: dict[str, Any]) -> None:
    try:
        run_turn(runtime, runtime.platforms[platform], job)
    except Exception:
        log.exception("background turn failed", extra={"platform": platform})


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
    return Runtime(settings, store, services, engine)
