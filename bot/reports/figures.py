"""The vocabulary of reports: the period and filters asked for, the facts read per order, and the measures.

Durations go through :func:`elapsed` (wall clock: time to claim, ages, the claim SLA) or through
``Sla.hours`` (business hours when ``BUSINESS_HOURS`` is set: time to fix and the resolution SLA, as the
resolution SLA's sweep counts them).
"""

from __future__ import annotations

import bisect
import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.orders.business_time import BusinessHours

MAX_DAYS = 366  # a longer range is refused (400)
DEFAULT_DAYS = 7
TOP = 10  # sites, zones and types listed by name; the others are summed as one "rest" row
REST = "(rest)"
NONE = "(none)"
# Backlog age buckets: (name, upper bound in seconds); the last holds everything older.
AGE_BUCKETS: tuple[tuple[str, float], ...] = (
    ("<4h", 4 * 3600),
    ("<1d", 86400),
    ("<3d", 3 * 86400),
    ("<7d", 7 * 86400),
    ("older", math.inf),
)
BACKLOG_STAGES = ("open", "claimed", "in_progress", "on_hold")


def elapsed(start: datetime, end: datetime) -> float:
    """Seconds from ``start`` to ``end`` that count (wall clock; business hours once they exist). Never negative."""
    return max((end - start).total_seconds(), 0.0)


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (the smallest value with at least ``p`` % of values at or below it); None if empty.

    The median is ``percentile(values, 50)``: the lower middle of an even count. Nearest rank returns a value that
    occurred, and is computed the same everywhere (the database's own percentile functions differ).
    """
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(p / 100 * len(ordered)), 1) - 1]


@dataclass(frozen=True)
class Filters:
    """What the figures are narrowed to; empty means any. Matched exactly (``site``: the site's id or name)."""

    tenant: str = ""
    platform: str = ""
    site: str = ""
    zone: str = ""
    type: str = ""
    severity: str = ""
    assignee: str = ""

    def as_dict(self) -> dict[str, str]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name)}


@dataclass(frozen=True)
class Period:
    """Local days ``first`` to ``last`` (both included) in ``zone``: the moments ``start`` ≤ t < ``end``."""

    first: date
    last: date
    zone: ZoneInfo

    @functools.cached_property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(), self.zone).astimezone(UTC)

    @functools.cached_property
    def end(self) -> datetime:
        return datetime.combine(self.last + timedelta(days=1), time(), self.zone).astimezone(UTC)

    @functools.cached_property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]

    def day_of(self, moment: datetime) -> date:
        """The local day of a moment of the period (found among the days' first moments: no zone arithmetic)."""
        return self.days[bisect.bisect_right(self._day_starts, moment) - 1]

    @functools.cached_property
    def _day_starts(self) -> list[datetime]:
        return [datetime.combine(day, time(), self.zone).astimezone(UTC) for day in self.days]

    def holds(self, moment: datetime | None) -> bool:
        return moment is not None and self.start <= moment < self.end

    def before(self) -> Period:
        """The period of the same length just before this one (what a digest compares with)."""
        length = timedelta(days=len(self.days))
        return Period(self.first - length, self.last - length, self.zone)

    @classmethod
    def last_days(cls, today: date, zone: ZoneInfo, days: int = DEFAULT_DAYS) -> Period:
        return cls(today - timedelta(days=days - 1), today, zone)


@dataclass(slots=True)
class OrderFacts:
    """What the figures need of one order, as stored (not frozen: a hundred thousand are made for a year's report)."""

    id: str
    status: str  # open, closed, cancelled
    stage: str | None  # claimed, in_progress, on_hold, resolved; NULL: unclaimed (or claimed before stages)
    severity: str
    alarm_type: str
    platform: str
    tenant: str
    site: str  # the site's name (else its id); "" when the place matched no site
    zone: str
    assignee: str  # the assignee's user id; "" when unclaimed
    created_at: datetime
    claimed_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    held_seconds: float
    on_hold_since: datetime | None
    reopen_count: int
    auto_confirmed: bool
    vlm_resolved: bool | None
    refused_fixes: int = 0  # fix photos the VLM refused (timeline ``fix_rejected``), ever

    @property
    def fixed_at(self) -> datetime | None:
        """The moment the work was done: resolved, or closed straight away (a close before stages existed)."""
        if self.resolved_at is not None:
            return self.resolved_at
        return self.closed_at if self.status == "closed" else None

    def time_to_claim(self) -> float | None:
        return None if self.claimed_at is None else elapsed(self.created_at, self.claimed_at)

    @property
    def in_backlog(self) -> bool:
        """Open and not yet fixed (a resolved order waiting for the reporter's word is not the team's to do)."""
        return self.status == "open" and self.stage != "resolved" and self.resolved_at is None

    @property
    def backlog_stage(self) -> str:
        if self.stage in BACKLOG_STAGES:
            return self.stage
        return "claimed" if self.assignee else "open"


@dataclass(frozen=True)
class Sla:
    """The targets, per severity, in seconds: claim (created → claimed) and resolution (claimed → fixed, holds
    out: the clock the resolution SLA's sweep keeps, ``bot.orders.sla``)."""

    claim: Callable[[str], float]
    resolve: Callable[[str], float | None]  # None: RESOLVE_SLA_HOURS is off
    hours: BusinessHours = field(default_factory=BusinessHours)  # when the fixing clock runs (BUSINESS_HOURS)

    def held(self, o: OrderFacts, now: datetime) -> float:
        """Seconds on hold so far (business seconds, as a hold's end stores them), the hold under way included."""
        current = self.hours.seconds_between(o.on_hold_since, now) if o.on_hold_since is not None else 0.0
        return o.held_seconds + current

    def fix_seconds(self, o: OrderFacts) -> float | None:
        """Time to fix: claimed (else created) → fixed, in business hours, the time on hold taken out."""
        fixed = o.fixed_at
        if fixed is None:
            return None
        return max(self.hours.seconds_between(o.claimed_at or o.created_at, fixed) - o.held_seconds, 0.0)

    def claim_breached(self, o: OrderFacts, now: datetime) -> bool:
        return elapsed(o.created_at, o.claimed_at or now) > self.claim(o.severity)

    def resolve_overrun(self, o: OrderFacts, now: datetime) -> float:
        """Seconds past the resolution target (negative: within it); for an unfixed order, counted to ``now``."""
        target = self.resolve(o.severity)
        if target is None or o.claimed_at is None:  # no target, or nobody has it yet: the claim SLA's business
            return float("-inf")
        fixed = o.fixed_at
        spent = self.hours.seconds_between(o.claimed_at, fixed or now) - (
            o.held_seconds if fixed else self.held(o, now)
        )
        return spent - target
