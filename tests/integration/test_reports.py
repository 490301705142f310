"""The figures of docs/reports.md from orders with known timestamps, on SQLite and on PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine

from bot.adapters.sql.orders import SqlWorkOrders
from bot.adapters.sql.reports import SqlReportFacts
from bot.config import Settings
from bot.reports.service import BadParameter, Reports
from tests.support.order_history import NOW, ZONE, History, a_week

pytestmark = pytest.mark.integration

H = 3600


def reports_for(engine: Engine) -> Reports:
    settings = Settings(timezone=ZONE, claim_sla_minutes=30, resolve_sla_hours="high:4,medium:24,low:72")
    return Reports(settings, SqlReportFacts(engine), clock=lambda: NOW)


def report(engine: Engine, **args: str) -> dict[str, Any]:
    reports = reports_for(engine)
    return reports.report(*reports.parse(args))


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        repo = SqlWorkOrders(f"sqlite:///{tmp_path / 'orders.db'}")
    else:
        repo = request.getfixturevalue("pg_orders")
    a_week(History(repo.engine))
    yield repo.engine


def test_the_week_by_hand(engine: Engine) -> None:
    r = report(engine)  # default: the last 7 days up to today (12-08)
    assert r["period"]["from"] == "2026-12-02" and r["period"]["to"] == "2026-12-08"
    r = report(engine, **{"from": "2026-12-01", "to": "2026-12-07"})
    s = r["summary"]
    assert (s["created"], s["claimed"], s["resolved"], s["closed"]) == (5, 3, 3, 3)
    # claims in 10 min, 1 h and 20 min; fixes in 2 h (a 2 h hold taken out), 25 h and 2 h 40
    assert s["time_to_claim"] == {"count": 3, "median": 1200, "p90": 3600}
    assert s["time_to_fix"] == {"count": 3, "median": 9600, "p90": 25 * H}
    # of the 4 orders made and not cancelled: B claimed in 1 h, C never (5 days old); B took 26 h from its claim,
    # C has no resolution clock yet (it runs from the claim, as the SLA sweep's does): it breaches the claim SLA only
    assert s["claim_sla_breached"] == {"count": 2, "of": 4, "share": 0.5}
    assert s["resolve_sla_breached"] == {"count": 1, "of": 4, "share": 0.25}
    assert s["reopen_rate"] == {"count": 1, "of": 3, "share": 0.3333}
    assert s["first_time_fix_rate"] == {"count": 2, "of": 3, "share": 0.6667}
    assert s["auto_confirmed_share"] == {"count": 1, "of": 3, "share": 0.3333}
    assert s["vlm_refusals"] == 1
    assert s["vlm_fixed_then_reopened"] == {"count": 1, "of": 3, "share": 0.3333}
    assert r["backlog"] == {
        "by_age": {"<4h": 1, "<1d": 0, "<3d": 0, "<7d": 1, "older": 1},
        "by_stage": {"open": 1, "claimed": 0, "in_progress": 1, "on_hold": 1},
    }
    late = r["breaching_now"]
    assert late["count"] == 2
    assert [(o["id"], o["breach"], o["over_seconds"]) for o in late["orders"]] == [
        ("WO-20261125-EEEEE", "resolve", (12 * 24 + 23 - 24) * H - 300),  # from its claim, 5 min after the report
        ("WO-20261203-CCCCC", "claim", round((4 * 24 + 23 - 0.5) * H)),
    ]
    days = {d["day"]: (d["created"], d["resolved"], d["closed"]) for d in r["per_day"]}
    assert days == {
        "2026-12-01": (1, 1, 1),
        "2026-12-02": (1, 0, 0),
        "2026-12-03": (1, 1, 0),
        "2026-12-04": (1, 0, 0),
        "2026-12-05": (1, 1, 1),
        "2026-12-06": (0, 0, 1),
        "2026-12-07": (0, 0, 0),
    }
    assert r["per_day"][0]["time_to_fix"] == {"count": 1, "median": 2 * H, "p90": 2 * H}
    assert r["by_type"] == [
        {"name": "漏水", "orders": 3},
        {"name": "电气故障", "orders": 1},  # ties by name
        {"name": "通道堵塞", "orders": 1},
    ]
    assert r["by_site"] == [{"name": "A栋", "orders": 3}, {"name": "(none)", "orders": 1}, {"name": "B栋", "orders": 1}]
    assert r["by_assignee"] == [
        {"assignee": "bob", "claimed": 2, "resolved": 2, "time_to_fix_median": 9600, "reopened": 1},
        {"assignee": "alice", "claimed": 1, "resolved": 1, "time_to_fix_median": 2 * H, "reopened": 0},
    ]


def test_filters_narrow_every_figure(engine: Engine) -> None:
    week = {"from": "2026-12-01", "to": "2026-12-07"}
    site = report(engine, site="A栋", **week)
    assert site["summary"]["created"] == 3 and site["backlog"]["by_stage"]["in_progress"] == 1
    assert report(engine, site="site-A栋", **week)["summary"]["created"] == 3  # the site's id works too
    t2 = report(engine, tenant="T2", platform="wecom", **week)
    assert t2["summary"]["created"] == 1 and [o["id"] for o in t2["breaching_now"]["orders"]] == ["WO-20261203-CCCCC"]
    bob = report(engine, assignee="bob", severity="medium", **week)
    assert bob["summary"]["resolved"] == 2 and bob["summary"]["vlm_refusals"] == 1
    assert [p["assignee"] for p in bob["by_assignee"]] == ["bob"]
    nobody = report(engine, assignee="nobody", **week)
    assert nobody["summary"]["created"] == 0 and nobody["breaching_now"]["count"] == 0
    assert nobody["summary"]["time_to_fix"] == {"count": 0, "median": None, "p90": None}
    assert report(engine, site="no such site", **week)["by_site"] == []


def test_sqlite_and_postgresql_give_the_same_report(tmp_path: Path, pg_orders: SqlWorkOrders) -> None:
    lite = create_engine(f"sqlite:///{tmp_path / 'same.db'}")
    a_week(History(lite))
    a_week(History(pg_orders.engine))
    week = {"from": "2026-11-20", "to": "2026-12-08"}
    assert report(lite, **week) == report(pg_orders.engine, **week)
    assert report(lite, zone="东区", **week) == report(pg_orders.engine, zone="东区", **week)


@pytest.mark.parametrize(
    ("args", "named"),
    [
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-13-01"}, "to"),
        ({"from": "2026-12-05", "to": "2026-12-01"}, "from"),
        ({"from": "2025-01-01", "to": "2026-12-01"}, "from…to"),
        ({"severity": "urgent"}, "severity"),
        ({"site": "x" * 300}, "site"),
    ],
)
def test_unusable_parameters_are_named(tmp_path: Path, args: dict[str, str], named: str) -> None:
    reports = reports_for(create_engine(f"sqlite:///{tmp_path / 'p.db'}"))
    with pytest.raises(BadParameter, match=named):
        reports.parse(args)
