"""Reports over a port: read the facts for a period and filters, build the report. The request's parameters are
read here too, so the API, the page and the CSV refuse the same things with the same words."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import fields
from datetime import UTC, date, datetime
from typing import Any, Protocol

from bot.config import Settings
from bot.moments import is_moment
from bot.reports import compute
from bot.reports.figures import MAX_DAYS, Filters, OrderFacts, Period, Sla

FILTERS = tuple(f.name for f in fields(Filters))
PARAMETERS = ("from", "to", *FILTERS)
_MAX_FILTER_CHARS = 200
_FIRST_YEAR, _LAST_YEAR = 1970, 9998  # beyond: no moment in every time zone


class BadParameter(ValueError):
    """A request parameter that cannot be used; the message names it."""


class ReportFacts(Protocol):
    def facts(self, period: Period, filters: Filters) -> list[OrderFacts]:
        """Orders created, claimed, fixed or closed in the period, and every open order; refused fixes counted."""
        ...

    def refused(self, period: Period, filters: Filters) -> int:
        """Fix photos the VLM refused in the period (timeline ``fix_rejected``) on orders the filters keep."""
        ...


def parse(args: Mapping[str, str], settings: Settings, today: date) -> tuple[Period, Filters]:
    """``from``/``to`` (local dates, both included; default the last 7 days) and the filters; BadParameter."""
    zone = settings.zone
    period = Period.last_days(today, zone)
    first, last = period.first, period.last
    for name in ("from", "to"):
        raw = args.get(name) or ""
        if not raw:
            continue
        if not is_moment(raw):
            raise BadParameter(f"{name} must be a date such as 2026-12-01, not {raw[:40]!r}")
        try:
            day = date.fromisoformat(raw) if len(raw) == 10 else datetime.fromisoformat(raw).date()
        except ValueError:
            raise BadParameter(f"{name} must be a date such as 2026-12-01, not {raw[:40]!r}") from None
        if not _FIRST_YEAR <= day.year <= _LAST_YEAR:
            raise BadParameter(f"{name} must be a date between {_FIRST_YEAR} and {_LAST_YEAR}, not {raw[:40]!r}")
        if name == "from":
            first = day
        else:
            last = day
    if not args.get("from") and args.get("to"):
        first = Period.last_days(last, zone).first
    if first > last:
        raise BadParameter(f"from ({first}) is after to ({last})")
    if (last - first).days + 1 > MAX_DAYS:
        raise BadParameter(f"from…to spans {(last - first).days + 1} days; at most {MAX_DAYS}")
    values: dict[str, str] = {}
    for name in FILTERS:
        raw = args.get(name) or ""  # checked as sent, as the OpenAPI document checks it; then trimmed
        if len(raw) > _MAX_FILTER_CHARS or any(ord(ch) < 32 for ch in raw):
            raise BadParameter(f"{name} must be at most {_MAX_FILTER_CHARS} printable characters")
        values[name] = raw.strip()
    if values["severity"] and values["severity"] not in ("high", "medium", "low"):
        raise BadParameter(f"severity must be high, medium or low, not {values['severity'][:40]!r}")
    return Period(first, last, zone), Filters(**values)


class Reports:
    """The one way a report is made, for every place that shows one."""

    def __init__(self, settings: Settings, source: ReportFacts, clock: Callable[[], datetime] | None = None) -> None:
        self.settings = settings
        self.source = source
        self.clock = clock or (lambda: datetime.now(UTC))
        self.sla = Sla(
            claim=settings.claim_sla_seconds, resolve=settings.resolve_sla_seconds, hours=settings.business_time
        )

    def today(self) -> date:
        return self.clock().astimezone(self.settings.zone).date()

    def parse(self, args: Mapping[str, str]) -> tuple[Period, Filters]:
        return parse(args, self.settings, self.today())

    def report(self, period: Period, filters: Filters) -> dict[str, Any]:
        return compute.build(
            period,
            self.source.facts(period, filters),
            refused_in_period=self.source.refused(period, filters),
            now=self.clock(),
            sla=self.sla,
            filters=filters,
        )
