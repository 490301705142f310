"""The courier: a thread in every serving process that delivers order events and sweeps for overdue orders.

Each round it delivers what the outbox holds due (``Outbox.run_once``: leases keep one process per
order at a time) and, at most once per ``sweep_every`` across *all* processes (a Redis ``SET NX PX``
decides which one), runs the escalation sweep and the auto-confirm sweep (resolved orders the reporter did
not answer within ``AUTO_CONFIRM_HOURS``). Both are safe to run twice (each escalation and each auto-confirm
is a conditional update), the Redis key only saves the other processes the query.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import redis

from bot.orders import moves, rules
from bot.ports import ServiceError

if TYPE_CHECKING:
    from bot.adapters.redis.outbox import Outbox
    from handlers.runner.runtime import Runtime

log = logging.getLogger(__name__)

IDLE_WAIT_SECONDS = 0.5


def sweep_every(runtime: Runtime) -> float:
    """A quarter of the shortest claim SLA (high severity), between 0.2 and 15 seconds."""
    return min(15.0, max(0.2, runtime.settings.claim_sla_seconds("high") / 4))


def sweep_once(runtime: Runtime, outbox: Outbox) -> int:
    """Escalate what is overdue, if no other process swept within ``sweep_every``; how many were escalated."""
    store = runtime.store
    if not store.redis.set(store.key("escalation-sweep"), b"1", nx=True, px=int(sweep_every(runtime) * 1000)):
        return 0
    services, now = runtime.services, datetime.now(UTC)
    escalated = rules.sweep(services.orders, outbox, runtime.settings, now, on_escalation=services.observer.escalation)
    moves.auto_confirm(services.orders, outbox, runtime.settings, now)
    return escalated


class Courier:
    def __init__(self, runtime: Runtime, outbox: Outbox) -> None:
        self.runtime, self.outbox = runtime, outbox
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="wobot-courier", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            busy = 0
            try:
                busy = self.outbox.run_once()
                sweep_once(self.runtime, self.outbox)
            except (redis.RedisError, ServiceError) as exc:  # Redis or the database down: no traceback per round
                log.warning("courier: %s; trying again shortly", exc)
            except Exception:  # the courier must outlive any one bad round
                log.exception("courier round failed")
            if not busy:
                self._stop.wait(min(IDLE_WAIT_SECONDS, sweep_every(self.runtime)))

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
