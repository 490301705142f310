"""The reports' settings (RESOLVE_SLA_HOURS, DIGEST_*) and when a digest is due, read the one way."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.config import Settings, SettingsError
from bot.reports import digest
from bot.reports.figures import Period, percentile

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=SHANGHAI)


def test_resolution_targets_per_severity() -> None:
    s = Settings.from_env({"RESOLVE_SLA_HOURS": "high:2, medium:8.5,low:48"})
    assert (s.resolve_sla_seconds("high"), s.resolve_sla_seconds("medium")) == (7200, 8.5 * 3600)
    assert s.resolve_sla_seconds("urgent") == 8.5 * 3600  # unknown: medium's
    assert Settings().resolve_sla_seconds("low") == 72 * 3600


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"RESOLVE_SLA_HOURS": "high:4,medium"}, "RESOLVE_SLA_HOURS entry 'medium'"),
        ({"RESOLVE_SLA_HOURS": "high:0"}, "RESOLVE_SLA_HOURS"),
        ({"DIGEST_AT": "8:30"}, "DIGEST_AT"),
        ({"DIGEST_AT": "24:00"}, "DIGEST_AT"),
        ({"DIGEST_EVERY": "month"}, "DIGEST_EVERY"),
        ({"DIGEST_ROUTES": "slack=C1"}, "DIGEST_ROUTES entry 1"),
    ],
)
def test_a_malformed_setting_stops_the_app_naming_it(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        Settings.from_env(env)


def test_routes_name_platform_tenant_and_type() -> None:
    s = Settings(digest_routes="slack:T1=C1, wecom:*:漏水=chat:wrk1|users:zhangsan")
    routes = {r.name: r for r in digest.routes(s)}
    assert routes["slack:T1"].filters.as_dict() == {"platform": "slack", "tenant": "T1"}
    assert routes["wecom:*:漏水"].filters.as_dict() == {"platform": "wecom", "type": "漏水"}
    assert routes["wecom:*:漏水"].target.addresses() == ["chat:wrk1", "users:zhangsan"]


def test_daily_digest_is_yesterdays_from_digest_at() -> None:
    s = Settings(digest_at="08:30")
    assert digest.due(s, at(6, 8, 29)) is None
    assert digest.due(s, at(6, 8, 30)) == Period(at(5, 0).date(), at(5, 0).date(), SHANGHAI)
    assert digest.due(s, at(6, 23, 59)) == Period(at(5, 0).date(), at(5, 0).date(), SHANGHAI)


def test_weekly_digest_is_last_mondays_to_sundays_from_monday() -> None:
    s = Settings(digest_every="week", digest_at="07:00")
    last_week = Period(date(2026, 11, 30), date(2026, 12, 6), SHANGHAI)  # Monday 11-30 … Sunday 12-06
    assert digest.due(s, at(7, 6, 59)) is None  # the week before's was due all that week, not any more
    assert digest.due(s, at(7, 7)) == last_week  # Monday 12-07, 07:00
    assert digest.due(s, at(13, 23)) == last_week  # still that one until next Monday
    assert last_week.before() == Period(date(2026, 11, 23), date(2026, 11, 29), SHANGHAI)


def test_nearest_rank_percentiles() -> None:
    assert percentile([], 50) is None
    assert percentile([5.0], 90) == 5.0
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.0  # the lower middle of an even count
    assert percentile([float(n) for n in range(1, 11)], 90) == 9.0
    assert percentile([float(n) for n in range(1, 12)], 90) == 10.0
