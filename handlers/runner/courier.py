"""The courier: a thread in every serving process that relays and delivers order events and sweeps for
overdue orders.

Each round it first hands the events the database holds on to the Redis outbox (``Relay.run_once``: each
event once across all processes, an order's in order), then delivers what the outbox holds due
(``Outbox.run_once``: leases keep one process per order at a time) and, at most once per ``sweep_every``
across *all* processes (a Redis ``SET NX PX`` decides which one), runs the sweeps: claim escalations, the
resolution SLA's reminders and escalations, and auto-confirm (resolved orders the reporter did not answer
within ``AUTO_CONFIRM_HOURS``). Each is safe to run twice (each step is a conditional update), the Redis key
only saves the other processes the query.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import redis

from bot.orders import moves, rules, sla
from bot.ports import ServiceError

if TYPE_CHECKING:
    from bot.adapters.redis.outbox import Outbox
    from bot.adapters.sql.outbox import Relay
    from handlers.runner.runtime import Runtime

log = logging.getLogger(__name__)

IDLE_WAIT_SECONDS = 0.5


def sweep_every(runtime: Runtime) -> float:
    """A quarter of the shortest claim SLA (high severity), between 0.2 and 15 seconds."""
    return min(15.0, max(0.2, runtime.settings.claim_sla_seconds("high") / 4))


def sweep_once(runtime: Runtime, outbox: Outbox) -> int:
    """Escalate what is overdue (unclaimed past the claim SLA, or unresolved past the resolution SLA), if no
    other process swept within ``sweep_every``; how many reminders and escalations were sent."""
    store = runtime.store
    if not store.redis.set(store.key("escalation-sweep"), b"1", nx=True, px=int(sweep_every(runtime) * 1000)):
        return 0
    services, now = runtime.services, datetime.now(UTC)
    escalated = rules.sweep(services.orders, outbox, runtime.settings, now, on_escalation=services.observer.escalation)
    if isinstance(services.orders, sla.ResolveClocks):  # the resolution SLA: reminders and escalations
        escalated += sla.sweep_resolution(services.orders, runtime.settings, now)
    moves.auto_confirm(services.orders, runtime.settings, now)
    return escalated


class Courier:
    def __init__(self, runtime: Runtime, outbox: Outbox, relay: Relay | None = None) -> None:
        self.runtime, self.outbox, self.relay = runtime, outbox, relay
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="wobot-courier", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            if not self.round():
                self._stop.wait(min(IDLE_WAIT_SECONDS, sweep_every(self.runtime)))

    def round(self) -> int:
        """Relay, deliver, sweep: each step on its own, so the database down still lets Redis's events out
        (and the other way round). How much was done (0: wait before the next round)."""
        relay = self.relay
        steps: list[tuple[str, Callable[[], int]]] = [
            ("relay", (lambda: relay.run_once(self.outbox)) if relay is not None else (lambda: 0)),
            ("delivery", self.outbox.run_once),
            ("sweep", lambda: sweep_once(self.runtime, self.outbox)),
        ]
        busy = 0
        for name, step in steps:
            try:
                busy += step()
            except (redis.RedisError, ServiceError) as exc:  # Redis or the database down: no traceback per round
                log.warning("courier %s: %s; trying again shortly", name, exc)
            except Exception:  # the courier must outlive any one bad round
                log.exception("courier %s failed", name)
        return busy

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
