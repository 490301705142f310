"""The runner's composition root: every port built from settings (or handed in by a test), the engine, the
outbox and its sinks, and what runs one handed-on job."""

from __future__ import annotations

import logging
from typing import Any

from bot.adapters.nlu import build_nlu
from bot.adapters.redis.outbox import Outbox
from bot.adapters.redis.sessions import RedisSessions
from bot.adapters.redis.store import SessionStore, build_store
from bot.adapters.sql.orders import SqlWorkOrders, build_orders
from bot.adapters.sql.sites import build_sites
from bot.adapters.storage import build_storage
from bot.adapters.stt import build_stt
from bot.adapters.vlm import build_vlm
from bot.config import Settings
from bot.dialogue.engine import Conversation, Services
from bot.observe import Observer
from bot.ports import Nlu, ObjectStore, Stt, Vlm, WorkOrders
from handlers.logs import ContextualEngine
from handlers.metrics import PrometheusObserver
from handlers.platforms.job import Job
from handlers.runner.courier import Courier
from handlers.runner.digest import DigestClock
from handlers.runner.duty import DutySink
from handlers.runner.order_webhook import OrderWebhook
from handlers.runner.runtime import Runtime
from handlers.runner.turns import run_turn

log = logging.getLogger(__name__)

UNSET: Any = object()


def run_job_logged(runtime: Runtime, platform: str, raw: bytes) -> None:
    """Run one job from the turn stream; whatever happens is logged, never raised (a consumer thread runs it).
    Its turn's reserved place, if no turn took it up, is given back as the entry is done (``DONE``)."""
    try:
        job = Job.from_json(raw)
    except (ValueError, TypeError) as exc:
        log.error("unreadable job dropped (%s: %.200s)", type(exc).__name__, exc, extra={"platform": platform})
        return
    try:
        run_turn(runtime, runtime.platforms[platform], job)
    except Exception:
        log.exception("background turn failed", extra={"platform": platform})


def build_runtime(
    settings: Settings,
    *,
    store: SessionStore | None = None,
    vlm: Vlm | None = UNSET,
    nlu: Nlu | None = UNSET,
    stt: Stt | None = UNSET,
    storage: ObjectStore | None = None,
    orders: WorkOrders | None = None,
    observer: Observer | None = None,
) -> Runtime:
    """Build every port from settings unless a test hands one in."""
    store = store or build_store(settings)
    # Metrics and the per-turn log context belong to every process that runs turns: web and worker processes.
    observer = observer or PrometheusObserver()
    storage = storage or build_storage(settings)
    orders = orders or build_orders(settings)
    services = Services(
        settings=settings,
        sessions=RedisSessions(store),
        storage=storage,
        orders=orders,
        vlm=build_vlm(settings, on_call=observer.vlm_call, store=storage) if vlm is UNSET else vlm,
        nlu=build_nlu(settings, on_call=observer.nlu_call) if nlu is UNSET else nlu,
        stt=build_stt(settings, on_call=observer.stt_call) if stt is UNSET else stt,
        observer=observer,
        sites=build_sites(orders),
    )
    engine = ContextualEngine(Conversation(services))
    runtime = Runtime(settings, store, services, engine)
    runtime.run_job = lambda platform, job: run_job_logged(runtime, platform, job)
    if settings.duty_routes or settings.escalation_routes or settings.order_webhook_url:
        outbox = Outbox(store.redis, store.key, (), retry_base_seconds=settings.order_webhook_retry_base_seconds)
        if settings.duty_routes or settings.escalation_routes:
            outbox.add_sink(DutySink(runtime))
        if settings.order_webhook_url:
            outbox.add_sink(OrderWebhook(settings.order_webhook_url, settings.order_webhook_secret, services.storage))
        runtime.outbox = services.events = outbox
        # the events the repository writes with each change (bot.adapters.sql.outbox) reach the outbox through it
        relay = services.orders.relay if isinstance(services.orders, SqlWorkOrders) else None
        if relay is not None:
            outbox.on_done = relay.done  # what a Redis that lost its data is given back leaves these out
        runtime.courier = lambda rt: Courier(rt, outbox, relay)
    if settings.digest_routes:
        runtime.digest = DigestClock
    return runtime
