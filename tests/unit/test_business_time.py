"""Business time: the hours an SLA counts (weekends, lunch breaks, a public holiday, summer time, spans of days)."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.config import Settings, SettingsError
from bot.orders.business_time import ALL_DAY, BusinessHours, holiday_calendar, parse_hours, parse_sla_hours

SH = ZoneInfo("Asia/Shanghai")
NY = ZoneInfo("America/New_York")
HOUR = 3600.0


def at(zone: ZoneInfo, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=zone)  # type: ignore[misc]


def office(zone: ZoneInfo = SH, spec: str = "Mon-Fri 08:00-18:00", holidays: str = "") -> BusinessHours:
    return BusinessHours(parse_hours(spec), zone, holiday_calendar(holidays) if holidays else None)


# -- the setting ----------------------------------------------------------------------------------------------
def test_parse_hours_reads_days_ranges_and_windows() -> None:
    week = parse_hours("Mon-Fri 08:00-12:00,13:00-18:00; Sat 09:00-12:00")
    assert week[0] == week[4] == ((480, 720), (780, 1080))
    assert week[5] == ((540, 720),)
    assert week[6] == ()
    assert parse_hours("") == ALL_DAY
    assert parse_hours("Fri-Mon 00:00-24:00")[6] == ((0, 1440),)  # a range wraps over the weekend
    assert parse_hours("friday 08:00-09:00")[4] == ((480, 540),)


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("Mon-Fri", "is not '<days> HH:MM-HH:MM'"),
        ("Mo-Fr 08:00-18:00", "days are Mon, Tue"),
        ("Mon-Fri 8-18", "is not HH:MM-HH:MM"),
        ("Mon 18:00-08:00", "ends before it starts"),
        ("Mon 08:00-25:00", "is not a time of day"),
        ("Mon 08:00-12:00,11:00-13:00", "overlap"),
        ("Mon-Fri 08:00-18:00; Fri 09:00-10:00", "already gave hours"),
    ],
)
def test_bad_business_hours_stop_the_app_naming_the_variable(raw: str, says: str) -> None:
    with pytest.raises(SettingsError, match="BUSINESS_HOURS") as caught:
        Settings(business_hours=raw)
    assert says in str(caught.value)


def test_sla_hours_are_read_with_defaults_and_clear_errors() -> None:
    assert parse_sla_hours("high:2") == {"high": 2.0, "medium": 24.0, "low": 72.0}
    assert parse_sla_hours("off") is None
    settings = Settings.from_env({"RESOLVE_SLA_HOURS": "high:0.5,medium:8,low:40"})
    assert settings.resolve_sla_seconds("high") == 1800
    assert settings.resolve_sla_seconds("strange") == 8 * HOUR  # medium's
    assert Settings(resolve_sla_hours="off").resolve_sla_seconds("high") is None
    for raw in ("high:0", "urgent:4", "high=4", "high:four", "high:4,,low:2"):
        with pytest.raises(SettingsError, match=r"RESOLVE_SLA_HOURS entry .* is not severity:hours"):
            Settings(resolve_sla_hours=raw)


def test_holidays_and_escalation_routes_are_checked_at_start() -> None:
    with pytest.raises(SettingsError, match="HOLIDAYS 'ZZ' is not a country"):
        Settings(holidays="ZZ")
    with pytest.raises(SettingsError, match="ESCALATION_ROUTES entry 1"):
        Settings(escalation_routes="slack")
    settings = Settings.from_env({"BUSINESS_HOURS": "Mon-Fri 08:00-18:00", "HOLIDAYS": "CN"})
    assert not settings.business_time.always
    assert Settings().business_time.always  # unset: every hour counts
    routes = Settings(escalation_routes="slack:T1=CSUP").escalation
    assert routes.target("slack", "T1", "漏水") is not None


# -- counting ------------------------------------------------------------------------------------------------
def test_a_weekend_counts_nothing() -> None:
    hours = office()
    assert hours.seconds_between(at(SH, 2026, 12, 4, 17), at(SH, 2026, 12, 7, 9)) == 2 * HOUR  # Fri 17 → Mon 9
    assert hours.add(at(SH, 2026, 12, 4, 17), 2 * HOUR) == at(SH, 2026, 12, 7, 9)


def test_starting_outside_hours_counts_from_the_next_opening() -> None:
    hours = office()
    saturday = at(SH, 2026, 12, 5, 10)
    assert hours.seconds_between(saturday, at(SH, 2026, 12, 7, 8, 30)) == 0.5 * HOUR
    assert hours.add(saturday, 60) == at(SH, 2026, 12, 7, 8, 1)
    assert hours.add(at(SH, 2026, 12, 7, 19), HOUR) == at(SH, 2026, 12, 8, 9)  # Mon evening → Tue 9
    assert hours.seconds_between(saturday, at(SH, 2026, 12, 6, 23)) == 0


def test_spans_across_days_and_the_end_of_a_window() -> None:
    hours = office()
    assert hours.seconds_between(at(SH, 2026, 12, 7, 17), at(SH, 2026, 12, 9, 9)) == 12 * HOUR  # 1 + 10 + 1
    assert hours.add(at(SH, 2026, 12, 7, 8), 10 * HOUR) == at(SH, 2026, 12, 7, 18)  # the close, not next morning
    assert hours.add(at(SH, 2026, 12, 7, 8), 24 * HOUR) == at(SH, 2026, 12, 9, 12)
    # 72 business hours from Friday 16:00: 2 that day, 50 the next week, 20 on Monday and Tuesday
    assert hours.add(at(SH, 2026, 12, 4, 16), 72 * HOUR) == at(SH, 2026, 12, 15, 18)


def test_a_lunch_break_and_a_saturday_morning() -> None:
    hours = office(spec="Mon-Fri 08:00-12:00,13:00-18:00; Sat 09:00-12:00")
    assert hours.seconds_between(at(SH, 2026, 12, 7, 11), at(SH, 2026, 12, 7, 14)) == 2 * HOUR
    assert hours.add(at(SH, 2026, 12, 7, 11, 30), HOUR) == at(SH, 2026, 12, 7, 13, 30)
    assert hours.seconds_between(at(SH, 2026, 12, 4, 17), at(SH, 2026, 12, 7, 9)) == 5 * HOUR  # 1 + Sat 3 + 1


def test_a_public_holiday_counts_nothing_and_a_weekend_workday_counts() -> None:
    hours = office(holidays="CN")
    # 2026-10-01 (Thu) to 10-07 are China's National Day holidays; Saturday 10-10 is worked in their place
    assert hours.seconds_between(at(SH, 2026, 9, 30, 17), at(SH, 2026, 10, 8, 9)) == 2 * HOUR
    assert hours.seconds_between(at(SH, 2026, 10, 10, 0), at(SH, 2026, 10, 11, 0)) == 10 * HOUR
    assert hours.add(at(SH, 2026, 9, 30, 17), 2 * HOUR) == at(SH, 2026, 10, 8, 9)
    plain = office()
    assert plain.seconds_between(at(SH, 2026, 9, 30, 17), at(SH, 2026, 10, 8, 9)) == 52 * HOUR


def test_summer_time_days_count_the_real_hours() -> None:
    every_day = office(NY, "Mon-Sun 00:00-24:00")
    # 2026-03-08: New York skips 02:00-03:00; 2026-11-01: it repeats 01:00-02:00
    assert every_day.seconds_between(at(NY, 2026, 3, 8, 0), at(NY, 2026, 3, 9, 0)) == 23 * HOUR
    assert every_day.seconds_between(at(NY, 2026, 11, 1, 0), at(NY, 2026, 11, 2, 0)) == 25 * HOUR
    night = office(NY, "Sun 01:00-05:00")
    assert night.seconds_between(at(NY, 2026, 3, 8, 0), at(NY, 2026, 3, 8, 12)) == 3 * HOUR
    assert night.seconds_between(at(NY, 2026, 11, 1, 0), at(NY, 2026, 11, 1, 12)) == 5 * HOUR
    day = office(NY)
    friday = at(NY, 2026, 3, 6, 17)
    assert day.add(friday, 2 * HOUR) == at(NY, 2026, 3, 9, 9)  # across the change, in local wall time
    assert day.add(friday, 2 * HOUR).astimezone(UTC).hour == 13  # 09:00 EDT


def test_any_zone_of_the_inputs_gives_the_same_answer() -> None:
    hours = office()
    start, end = at(SH, 2026, 12, 7, 9), at(SH, 2026, 12, 7, 11)
    assert hours.seconds_between(start.astimezone(UTC), end.astimezone(NY)) == 2 * HOUR
    with pytest.raises(ValueError, match="naive"):
        hours.seconds_between(datetime(2026, 12, 7), end)  # noqa: DTZ001


def test_round_trips_and_a_brute_force_count_agree() -> None:
    hours = office(NY, "Mon-Fri 08:00-12:00,13:00-18:00; Sat 09:00-12:00", holidays="US")
    rng = random.Random(28)
    base = at(NY, 2026, 1, 1)
    for _ in range(200):
        start = base + timedelta(minutes=rng.randrange(0, 366 * 24 * 60))
        amount = rng.randrange(1, 200) * 900.0
        done = hours.add(start, amount)
        assert hours.seconds_between(start, done) == pytest.approx(amount)
    for _ in range(20):
        start = base + timedelta(minutes=rng.randrange(0, 300 * 24 * 60))
        end = start + timedelta(minutes=rng.randrange(0, 9 * 24 * 60))
        assert hours.seconds_between(start, end) == _per_minute(hours, start, end)


def _per_minute(hours: BusinessHours, start: datetime, end: datetime) -> float:
    """The slow, obvious count (minute by minute, in UTC) the fast one must match."""
    week, zone, total = hours.week, hours.zone, 0.0
    kind = holiday_calendar("US")
    moment = start.astimezone(UTC)
    while moment < end:
        local = moment.astimezone(zone)
        minute = local.hour * 60 + local.minute
        windows = () if kind(local.date()) == "off" else week[local.weekday()]
        if any(s <= minute < e for s, e in windows):
            total += 60
        moment += timedelta(minutes=1)
    return total


def test_a_year_is_counted_in_well_under_a_millisecond_a_question() -> None:
    hours = office(holidays="CN")
    start, end = at(SH, 2026, 1, 1, 9), at(SH, 2027, 1, 1, 9)
    hours.seconds_between(start, end)  # the days are worked out once and kept
    began = time.perf_counter()
    for _ in range(100):
        hours.seconds_between(start, end)
        hours.add(start, 2000 * HOUR)
    assert (time.perf_counter() - began) / 100 < 0.005


def test_every_hour_counts_without_business_hours() -> None:
    always = BusinessHours()
    start = at(SH, 2026, 12, 5, 10)
    assert always.always
    assert always.seconds_between(start, start + timedelta(days=2)) == 48 * HOUR
    assert always.add(start, 5) == start + timedelta(seconds=5)
    assert always.seconds_between(start, start - timedelta(hours=1)) == 0
