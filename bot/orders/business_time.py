"""Business time: the hours an SLA counts, in ``TIMEZONE``, less public holidays.

``BUSINESS_HOURS`` is groups joined by ``;``, each ``<days> <window>[,<window>…]``: days are one English day
(``Mon``) or a range (``Mon-Fri``, ``Fri-Mon`` wraps), a window is ``HH:MM-HH:MM`` (``24:00`` ends a day; a
night shift is two groups). ``Mon-Fri 08:00-12:00,13:00-18:00; Sat 09:00-12:00``. Empty: every hour counts.

``HOLIDAYS`` is a country code of the ``holidays`` library (``CN``, ``US``, ``DE-BY`` for a subdivision):
its public holidays count nothing, and its weekend workdays (China's 调休 Saturdays) take the hours of the
first of Monday to Friday that has any. Empty: no holidays.

Windows are wall-clock times: on a day that leaves or enters summer time, ``08:00-18:00`` is 9 or 11 real
hours, and those are what is counted. Work goes a day at a time (each day's windows computed once and kept),
never a minute at a time.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import holidays as holiday_calendars

from bot.orders.duty_routes import parse_duty_routes

Window = tuple[int, int]  # minutes after local midnight: start, end (exclusive, at most 1440)
Week = tuple[tuple[Window, ...], ...]  # Monday first, seven entries

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
ALL_DAY: Week = (((0, 1440),),) * 7
_GROUP = re.compile(r"^(\w+)(?:\s*-\s*(\w+))?\s+(.+)$")
_WINDOW = re.compile(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$")
_MAX_DAYS = 3660  # ``add`` gives up after ten years without enough business time
_DAY = timedelta(days=1)


def parse_hours(raw: str) -> Week:
    """``BUSINESS_HOURS`` as a week of windows (empty: every hour); ``ValueError`` naming the faulty part."""
    if not raw.strip():
        return ALL_DAY
    week: list[list[Window]] = [[] for _ in DAY_NAMES]
    named: set[int] = set()
    for number, group in enumerate((g.strip() for g in raw.split(";")), 1):
        match = _GROUP.match(group)
        if match is None:
            raise ValueError(f"part {number} ({group!r}) is not '<days> HH:MM-HH:MM', e.g. 'Mon-Fri 08:00-18:00'")
        first, last, windows = match.groups()
        days = _days(first, last or first, number)
        if named & set(days):
            raise ValueError(f"part {number} ({group!r}) names a day an earlier part already gave hours")
        named |= set(days)
        spans = sorted(_window(w.strip(), number) for w in windows.split(","))
        for (_, end), (start, _) in pairwise(spans):
            if start < end:
                raise ValueError(f"part {number} ({group!r}) has windows that overlap")
        for day in days:
            week[day] = spans
    return tuple(tuple(day) for day in week)


def _days(first: str, last: str, number: int) -> list[int]:
    a, b = _day(first, number), _day(last, number)
    return [(a + i) % 7 for i in range((b - a) % 7 + 1)]


def _day(name: str, number: int) -> int:
    folded = name.lower()
    for names in (DAY_NAMES, _FULL_NAMES):
        if folded in names:
            return names.index(folded)
    raise ValueError(f"part {number}: days are Mon, Tue, Wed, Thu, Fri, Sat, Sun (or in full), not {name!r}")


def _window(text: str, number: int) -> Window:
    match = _WINDOW.match(text)
    if match is None:
        raise ValueError(f"part {number}: {text!r} is not HH:MM-HH:MM")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2):
        raise ValueError(f"part {number}: {text!r} is not a time of day (00:00 to 24:00)")
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if end <= start:
        raise ValueError(f"part {number}: {text!r} ends before it starts (a night shift is two parts)")
    return start, end


SLA_DEFAULT_HOURS = {"high": 4.0, "medium": 24.0, "low": 72.0}


def parse_sla_hours(raw: str) -> dict[str, float] | None:
    """``RESOLVE_SLA_HOURS``: ``high:4,medium:24,low:72`` (a severity not named keeps its default; ``off``:
    None, no resolution SLA); ``ValueError`` naming the faulty entry."""
    if raw.strip().lower() == "off":
        return None
    hours = dict(SLA_DEFAULT_HOURS)
    for entry in (e.strip() for e in raw.split(",")):
        severity, sep, value = (part.strip() for part in entry.partition(":"))
        try:
            number = float(value) if sep and severity in SLA_DEFAULT_HOURS else -1.0
        except ValueError:
            number = -1.0
        if not 0 < number <= 8760:
            raise ValueError(f"entry {entry!r} is not severity:hours (high, medium or low; above 0, at most 8760)")
        hours[severity] = number
    return hours


def check_time_settings(sla_hours: str, business_hours: str, holiday_code: str, escalation_routes: str) -> None:
    """``ValueError`` naming the variable and what is wrong in it (``bot.config`` makes it a SettingsError)."""
    for name, check in (
        ("RESOLVE_SLA_HOURS", lambda: parse_sla_hours(sla_hours)),
        ("BUSINESS_HOURS", lambda: parse_hours(business_hours)),
        ("HOLIDAYS", lambda: holiday_code.strip() and holiday_calendar(holiday_code)),
        ("ESCALATION_ROUTES", lambda: parse_duty_routes(escalation_routes)),
    ):
        try:
            check()
        except ValueError as exc:
            raise ValueError(f"{name} {exc}") from None


def holiday_calendar(code: str) -> Callable[[date], str]:
    """``HOLIDAYS`` as a function of a date: ``"off"`` (a holiday), ``"work"`` (a weekend workday) or ``""``.
    ``ValueError`` for a code the library does not know."""
    country, _, subdivision = code.strip().upper().partition("-")
    try:
        calendar = holiday_calendars.country_holidays(country, subdiv=subdivision or None)
    except (NotImplementedError, KeyError, ValueError):
        raise ValueError(f"{code!r} is not a country (or country-subdivision) the holidays library knows") from None
    lock = threading.Lock()  # the library fills a year in on first use; one thread at a time does it

    def kind(day: date) -> str:
        with lock:
            if day in calendar:
                return "off"
            return "work" if day in getattr(calendar, "weekend_workdays", ()) else ""

    return kind


class BusinessHours:
    """When the SLA clock runs. ``seconds_between`` and ``add`` take and give timezone-aware datetimes."""

    def __init__(self, week: Week = ALL_DAY, zone: ZoneInfo | None = None, days: Callable[[date], str] | None = None):
        if len(week) != 7:
            raise ValueError("a week has seven days")
        self.week, self.zone, self._days = week, zone or ZoneInfo("UTC"), days
        self.always = week == ALL_DAY and days is None  # plain elapsed time
        self._workday: tuple[Window, ...] = next((w for w in week[:5] if w), ((0, 1440),))
        self._cache: dict[date, tuple[tuple[datetime, datetime], ...]] = {}
        self._totals: dict[date, float] = {}

    @classmethod
    def from_settings(cls, hours: str, timezone: str, holiday_code: str) -> BusinessHours:
        """From ``BUSINESS_HOURS``, ``TIMEZONE`` and ``HOLIDAYS``; ``ValueError`` as the parsers raise it."""
        days = holiday_calendar(holiday_code) if holiday_code.strip() else None
        return cls(parse_hours(hours), ZoneInfo(timezone), days)

    # -- the two questions ------------------------------------------------------------------------------------
    def seconds_between(self, start: datetime, end: datetime) -> float:
        """Business seconds from ``start`` to ``end`` (0 when ``end`` is not after ``start``)."""
        start, end = _utc(start), _utc(end)  # arithmetic on one zone's datetimes is wall-clock arithmetic
        if end <= start:
            return 0.0
        if self.always:
            return (end - start).total_seconds()
        day, last = self._local_day(start), self._local_day(end)
        total = 0.0
        while day <= last:
            windows = self._windows(day)
            if windows and start <= windows[0][0] and windows[-1][1] <= end:
                total += self._total(day)  # a whole day inside the span
            else:
                for opens, closes in windows:
                    s, e = max(opens, start), min(closes, end)
                    if e > s:
                        total += (e - s).total_seconds()
            day += _DAY
        return total

    def add(self, start: datetime, seconds: float) -> datetime:
        """The instant (in UTC) when ``seconds`` of business time have passed since ``start`` (``start`` for 0;
        from outside the hours the count begins when they next open). ``ValueError`` when ten years hold
        too little business time (every day a holiday)."""
        start = _utc(start)
        if seconds <= 0:
            return start
        if self.always:
            return start + timedelta(seconds=seconds)
        remaining, day = float(seconds), self._local_day(start)
        for _ in range(_MAX_DAYS):
            windows = self._windows(day)
            if windows and start <= windows[0][0] and self._total(day) < remaining:
                remaining -= self._total(day)  # the whole day is used up
            else:
                for opens, closes in windows:
                    s = max(opens, start)
                    if closes <= s:
                        continue
                    available = (closes - s).total_seconds()
                    if remaining <= available:
                        return s + timedelta(seconds=remaining)
                    remaining -= available
            day += _DAY
        raise ValueError("no business time in ten years: every day is a holiday or has no hours")

    # -- one day's windows, as UTC instants, kept --------------------------------------------------------------
    def _local_day(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()

    def _windows(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        found = self._cache.get(day)
        if found is None:
            kind = self._days(day) if self._days is not None else ""
            spans = () if kind == "off" else self._workday if kind == "work" else self.week[day.weekday()]
            found = tuple((self._instant(day, s), self._instant(day, e)) for s, e in spans)
            found = tuple((s, e) for s, e in found if e > s)  # a window lost in a summer-time gap
            if len(self._cache) > 20_000:
                self._cache.clear()
                self._totals.clear()
            self._cache[day] = found
        return found

    def _total(self, day: date) -> float:
        total = self._totals.get(day)
        if total is None:
            total = self._totals[day] = sum((e - s).total_seconds() for s, e in self._windows(day))
        return total

    def _instant(self, day: date, minute: int) -> datetime:
        if minute >= 1440:
            day, minute = day + _DAY, minute - 1440
        local = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=self.zone)
        return local.astimezone(UTC)


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: business time needs timezone-aware datetimes")
    return moment.astimezone(UTC)
