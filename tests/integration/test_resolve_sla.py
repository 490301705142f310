"""The resolution SLA on SQLite and PostgreSQL with a fake clock: the assignee's reminder at 80 %, escalations
at 100 % and each period after, at most MAX_ESCALATIONS; on hold the clock stops; business hours and a public
holiday count nothing; two processes sweeping at once send each reminder and escalation once. The order's
stage columns are set directly, as the order's life (claimed, in progress, on hold) leaves them."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from bot.adapters.sql.orders import SqlWorkOrders
from bot.adapters.sql.tables import order_timeline, work_orders
from bot.config import Settings
from bot.orders.sla import sweep_resolution
from bot.ports import Reporter
from tests.integration import test_orders as repo_tests
from tests.support.outbox import staged
from tests.support.workers import sweep_resolution as sweep_in_a_process

pytestmark = pytest.mark.integration

orders = repo_tests.orders
schema = repo_tests.schema
new_order = repo_tests.new_order
SPAWN = multiprocessing.get_context("spawn")
GUARD, TECH = Reporter("slack", "T1", "guard"), Reporter("slack", "T1", "tech")
SH = ZoneInfo("Asia/Shanghai")
HOUR = timedelta(hours=1)


def claimed(orders: SqlWorkOrders, key: str, at: datetime, severity: str = "high", **columns: Any) -> str:
    """An order claimed by TECH at ``at`` (and its stage columns as given)."""
    order, _ = orders.create(new_order(key, reporter=GUARD, severity=severity))
    orders.claim(order.id, TECH)
    set_columns(orders, order.id, claimed_at=at, **columns)
    return order.id


def set_columns(orders: SqlWorkOrders, order_id: str, **columns: Any) -> None:
    with orders.engine.begin() as conn:
        conn.execute(update(work_orders).where(work_orders.c.id == order_id).values(**columns))


def sla_events(orders: SqlWorkOrders, order_id: str) -> list[tuple[str, Any]]:
    return [
        (e["type"], (e.get("details") or {}).get("count"))
        for e in staged(orders, order_id)
        if e["type"] in ("order.reminded", "order.escalated")
    ]


def test_reminder_then_escalations_and_on_hold_pauses_the_clock(orders: SqlWorkOrders) -> None:
    settings = Settings(resolve_sla_hours="high:4", max_escalations=2)
    t0 = datetime(2026, 12, 7, 9, tzinfo=UTC)
    oid = claimed(orders, "k", t0, stage="in_progress", started_at=t0)

    def sweep(at: timedelta) -> int:
        return sweep_resolution(orders, settings, t0 + at)

    assert sweep(3 * HOUR) == 0  # 75 %
    assert sweep(3.25 * HOUR) == 1  # 81 %: the assignee's reminder
    assert sweep(3.3 * HOUR) == 0  # once
    set_columns(orders, oid, stage="on_hold", on_hold_since=t0 + 3.5 * HOUR, hold_reason="parts")
    assert sweep(30 * HOUR) == 0  # on hold: the clock is stopped, no reminder, no escalation
    set_columns(orders, oid, stage="in_progress", on_hold_since=None, held_seconds=6.5 * 3600)  # resumed at +10 h
    assert sweep(10 * HOUR) == 0  # 3.5 h used
    assert sweep(10.6 * HOUR) == 1  # 4.1 h used: the first escalation
    assert sweep(12 * HOUR) == 0  # within the period
    assert sweep(14.6 * HOUR) == 1  # 8.1 h: the second
    assert sweep(100 * HOUR) == 0  # MAX_ESCALATIONS reached
    assert sla_events(orders, oid) == [("order.reminded", None), ("order.escalated", 1), ("order.escalated", 2)]
    escalated = [e for e in staged(orders, oid) if e["type"] == "order.escalated"]
    assert escalated[0]["details"] == {"sla": "resolve", "used_hours": 4.1, "limit_hours": 4.0, "count": 1}
    assert escalated[0]["order"]["assignee"]["user"] == "tech"
    with orders.engine.connect() as conn:
        rows = conn.execute(
            select(order_timeline).where(order_timeline.c.order_id == oid, order_timeline.c.kind == "escalated")
        ).all()
    assert [(r.kind, r.from_status, r.to_status, r.reason, r.actor_user) for r in rows] == [
        ("escalated", "in_progress", "in_progress", "resolve_sla", None)
    ] * 2
    assert [r.detail["count"] for r in rows] == [1, 2]


def test_a_hold_running_now_and_an_old_claim_without_a_stage(orders: SqlWorkOrders) -> None:
    settings = Settings(resolve_sla_hours="medium:2", max_escalations=3)
    t0 = datetime(2026, 12, 7, 9, tzinfo=UTC)
    held = claimed(orders, "held", t0, severity="medium", stage="on_hold", on_hold_since=t0 + HOUR)
    legacy = claimed(orders, "legacy", t0, severity="medium")  # open with an assignee, stage NULL: "claimed"
    done = claimed(orders, "done", t0, severity="medium", stage="resolved", resolved_at=t0 + HOUR)
    assert sweep_resolution(orders, settings, t0 + 5 * HOUR) == 1
    assert sla_events(orders, legacy) == [("order.escalated", 1)]  # past 100 %: no reminder first
    assert sla_events(orders, held) == sla_events(orders, done) == []


def test_business_hours_and_a_public_holiday_count_nothing(orders: SqlWorkOrders) -> None:
    hours = {"resolve_sla_hours": "high:4", "business_hours": "Mon-Fri 08:00-18:00", "timezone": "Asia/Shanghai"}
    with_holidays, without = Settings(**hours, holidays="CN"), Settings(**hours)
    eve = datetime(2026, 9, 30, 16, tzinfo=SH)  # Wednesday; 1-7 October are China's National Day holidays
    a = claimed(orders, "a", eve, stage="claimed")
    assert sweep_resolution(orders, with_holidays, datetime(2026, 10, 8, 9, tzinfo=SH)) == 0  # 3 h: 2 + 1
    assert sweep_resolution(orders, with_holidays, datetime(2026, 10, 8, 9, 30, tzinfo=SH)) == 1  # 3.5 h: reminder
    assert sweep_resolution(orders, with_holidays, datetime(2026, 10, 8, 10, tzinfo=SH)) == 1  # 4 h: escalation
    assert sla_events(orders, a) == [("order.reminded", None), ("order.escalated", 1)]

    orders.cancel(a, "done with it", GUARD)
    b = claimed(orders, "b", eve, stage="claimed")  # the same claim where no holidays are set
    assert sweep_resolution(orders, without, datetime(2026, 10, 3, 9, tzinfo=SH)) == 1  # a Saturday
    assert sla_events(orders, b) == [("order.escalated", 1)]  # 12 h used by Friday night (3 periods: one a sweep)


def test_two_processes_sweeping_at_once_send_each_reminder_and_escalation_once(
    orders: SqlWorkOrders, request: Any
) -> None:
    now = datetime(2026, 12, 7, 15, tzinfo=UTC)
    late = [claimed(orders, f"late{n}", now - 5 * HOUR, stage="in_progress") for n in range(15)]
    near = [claimed(orders, f"near{n}", now - 3.5 * HOUR, stage="claimed") for n in range(15)]
    url = orders.engine.url.render_as_string(hide_password=False)
    options = None
    if orders.engine.dialect.name == "postgresql":
        options = {"connect_args": {"options": f"-csearch_path={request.getfixturevalue('schema')}"}}
    settings = {"resolve_sla_hours": "high:4", "max_escalations": 3}
    barrier, results = SPAWN.Barrier(2), SPAWN.Queue()
    procs = [
        SPAWN.Process(target=sweep_in_a_process, args=(url, options, settings, now.isoformat(), barrier, results))
        for _ in "ab"
    ]
    for p in procs:
        p.start()
    try:
        sent = [results.get(timeout=120) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=10)
    assert all(isinstance(n, int) for n in sent), sent
    assert sum(sent) == 30
    assert all(sla_events(orders, oid) == [("order.escalated", 1)] for oid in late)
    assert all(sla_events(orders, oid) == [("order.reminded", None)] for oid in near)


def test_a_database_made_before_stages_and_the_outbox_gets_them_and_works(orders: SqlWorkOrders) -> None:
    """Today's schema (the order table without the life columns; no timeline, no outbox): the first use adds
    what is missing, an old claim reads as claimed, and its SLA and events work."""
    from sqlalchemy import MetaData, Table, inspect

    added = {"stage", "started_at", "hold_reason", "on_hold_since", "held_seconds", "resolved_at"}
    added |= {"auto_confirmed", "reopen_count", "rating", "resolve_escalations", "resolve_escalated_at"}
    added |= {"resolve_reminded_at", "site_id", "site_name", "zone", "place_source", "coord_datum"}
    old = MetaData()
    Table("work_orders", old, *(c._copy() for c in work_orders.columns if c.name not in added))
    old.create_all(orders.engine)
    assert set(inspect(orders.engine).get_table_names()) == {"work_orders"}

    t0 = datetime(2026, 12, 7, 9, tzinfo=UTC)
    oid = claimed(orders, "old", t0)  # the first call makes the rest: columns, timeline, outbox
    assert {"order_timeline", "order_outbox", "order_outbox_done"} <= set(inspect(orders.engine).get_table_names())
    assert sweep_resolution(orders, Settings(resolve_sla_hours="high:4"), t0 + 5 * HOUR) == 1
    assert [e["type"] for e in staged(orders, oid)] == ["order.created", "order.claimed", "order.escalated"]
