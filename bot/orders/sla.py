"""The resolution SLA: from the claim to ``resolved``, in business hours, the clock stopped while on hold.

``RESOLVE_SLA_HOURS`` gives each severity its time. An order being worked on (stage ``claimed`` or
``in_progress``, or an old open order with an assignee and no stage) whose clock has used:

* 80 % of it: the assignee is reminded, once (``order.reminded``);
* 100 %, 200 %, …: the order is escalated to the ``ESCALATION_ROUTES`` supervisor chat (``order.escalated``
  with ``details.sla = "resolve"``), once per period, at most ``MAX_ESCALATIONS`` times.

An order on hold gets neither: its clock is stopped. The time used is the business time since ``claimed_at``
less the time held (``held_seconds``, and the hold running now from ``on_hold_since``). A hold's end
(``bot.orders.life.held_until``) adds the business time it covered to ``held_seconds``, so a hold over a
night or a weekend pauses only the business hours it covered.

Each reminder and escalation is one conditional update in the database, with its event and timeline row in
the same transaction: of two processes sweeping at once exactly one sends it. No platform, no I/O here.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from bot.config import Settings
from bot.orders.business_time import BusinessHours
from bot.ports import Order

log = logging.getLogger(__name__)

REMIND_AT = 0.8  # of the SLA: the assignee's reminder
WORKING_STAGES = ("claimed", "in_progress")  # and NULL with an assignee (claimed before stages existed)
# What every write of ``claimed_at`` clears (a claim, a hand-over or take-over, an unclaim and a claim again):
# the clock starts afresh, so the new assignee gets the 80 % reminder and the first escalation waits for 100 %.
NEW_CLOCK: dict[str, None] = {"resolve_reminded_at": None, "resolve_escalations": None, "resolve_escalated_at": None}


@dataclass(frozen=True)
class SlaClock:
    """An order being worked on, with what its resolution clock needs (the repository reads it in one query)."""

    order: Order
    stage: str | None
    on_hold_since: datetime | None
    held_seconds: float
    reminded_at: datetime | None
    escalations: int  # resolution escalations so far (``resolve_escalations``)


@runtime_checkable
class ResolveClocks(Protocol):
    """What the sweep asks of the order repository (``bot.adapters.sql.sla_queries``)."""

    def resolve_clocks(self, max_escalations: int, limit: int = 500) -> list[SlaClock]:
        """Open orders being worked on (not on hold) with fewer than ``max_escalations`` escalations."""
        ...

    def mark_resolve_reminded(self, order_id: str, details: dict[str, object]) -> Order | None:
        """Record the reminder, with its event, if no one has; the order, or None when another process did."""
        ...

    def mark_resolve_escalated(self, order_id: str, seen: int, details: dict[str, object]) -> Order | None:
        """Count escalation ``seen + 1``, with its event and timeline row, if the count is still ``seen``."""
        ...


def used_seconds(clock: SlaClock, hours: BusinessHours, now: datetime) -> float:
    """Business seconds of the SLA used so far: since the claim, less the holds."""
    claimed_at = clock.order.claimed_at
    if claimed_at is None:
        return 0.0
    used = hours.seconds_between(claimed_at, now) - clock.held_seconds
    if clock.on_hold_since is not None:
        used -= hours.seconds_between(clock.on_hold_since, now)
    return max(0.0, used)


def sweep_resolution(
    orders: ResolveClocks,
    settings: Settings,
    now: datetime,
    on_escalation: Callable[[Order], None] | None = None,
) -> int:
    """Remind and escalate what is due now; safe in every process at once. How many were sent."""
    if settings.resolve_sla_seconds("medium") is None:
        return 0  # RESOLVE_SLA_HOURS=off
    hours, sent = settings.business_time, 0
    for clock in orders.resolve_clocks(settings.max_escalations):
        if clock.stage == "on_hold" or clock.on_hold_since is not None:
            continue  # the clock is stopped
        limit = settings.resolve_sla_seconds(clock.order.severity) or math.inf
        used = used_seconds(clock, hours, now)
        details: dict[str, object] = {
            "sla": "resolve",
            "used_hours": round(used / 3600, 1),
            "limit_hours": round(limit / 3600, 1),
        }
        due = min(int(used // limit), settings.max_escalations)
        if due > clock.escalations:
            count = clock.escalations + 1
            won = orders.mark_resolve_escalated(clock.order.id, clock.escalations, {**details, "count": count})
            if won is not None:
                sent += 1
                if on_escalation is not None:
                    on_escalation(won)
        elif clock.escalations == 0 and clock.reminded_at is None and used >= REMIND_AT * limit:
            sent += orders.mark_resolve_reminded(clock.order.id, {**details, "percent": 80}) is not None
    return sent
