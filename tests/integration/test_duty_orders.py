"""The order repository's order-rule queries on SQLite and PostgreSQL: a claim raced by several processes has
one winner; a duplicate report adds its photos and reporter; escalation counts once per period; the CSV
export streams 10 000 orders with Chinese text."""

from __future__ import annotations

import csv
import io
import multiprocessing
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from bot.adapters.sql.orders import SqlWorkOrders
from bot.adapters.sql.tables import work_orders
from bot.config import Settings
from bot.orders.events import EventType
from bot.orders.ids import ID_ALPHABET
from bot.orders.rules import sweep
from bot.ports import Order, OrderError, Reporter
from handlers.web.admin import export
from tests.integration import test_orders as repo_tests
from tests.support.outbox import kinds, staged
from tests.support.workers import claim_order

pytestmark = pytest.mark.integration

orders = repo_tests.orders
schema = repo_tests.schema
new_order = repo_tests.new_order
SPAWN = multiprocessing.get_context("spawn")
TECH = Reporter("slack", "T1", "tech1")


class Recorded:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def emit(self, kind: EventType, order: Order, **details: Any) -> None:
        self.events.append((kind, order.id))


def test_claims_from_several_processes_at_once_have_one_winner(orders: SqlWorkOrders, request: Any) -> None:
    order, _ = orders.create(new_order("k1", reporter=Reporter("slack", "T1", "guard")))
    url = orders.engine.url.render_as_string(hide_password=False)
    options = None
    if orders.engine.dialect.name == "postgresql":
        options = {"connect_args": {"options": f"-csearch_path={request.getfixturevalue('schema')}"}}
    users = [f"tech{n}" for n in range(4)]
    barrier, results = SPAWN.Barrier(len(users)), SPAWN.Queue()
    procs = [SPAWN.Process(target=claim_order, args=(url, options, order.id, u, barrier, results)) for u in users]
    for p in procs:
        p.start()
    try:
        outcomes = dict(results.get(timeout=60) for _ in users)
    finally:
        for p in procs:
            p.join(timeout=10)
    assert all(isinstance(won, bool) for won in outcomes.values()), outcomes
    winners = [user for user, won in outcomes.items() if won]
    assert len(winners) == 1
    assert kinds(orders) == [("order.created", order.id), ("order.claimed", order.id)]  # the winner's only
    assert staged(orders)[1]["details"]["by"]["user"] == winners[0]
    claimed = orders.get(order.id)
    assert claimed is not None and claimed.assignee is not None and claimed.assignee.user == winners[0]


def test_a_claim_needs_an_open_order_of_the_same_tenant(orders: SqlWorkOrders) -> None:
    order, _ = orders.create(new_order("k1", reporter=Reporter("slack", "T1", "guard")))
    with pytest.raises(OrderError):
        orders.claim(order.id, Reporter("slack", "T2", "stranger"))  # another tenant: no such order
    orders.cancel(order.id, "dup", Reporter("slack", "T1", "guard"))
    with pytest.raises(OrderError):
        orders.claim(order.id, TECH)


def test_a_duplicate_report_adds_photos_and_the_reporter_once(orders: SqlWorkOrders) -> None:
    order, _ = orders.create(new_order("k1", reporter=Reporter("slack", "T1", "guard")))
    other = Reporter("slack", "T1", "guard2")
    orders.add_report(order.id, other, ["photo-b", "photo-c"])
    again = orders.add_report(order.id, other, ["photo-c"])
    assert [r.user for r in again.reporters] == ["guard", "guard2"]
    assert again.photo_keys[1:] == ("photo-b", "photo-c")
    reported = [e for e in staged(orders) if e["type"] == "order.duplicate_reported"]
    assert [e["details"]["photos"] for e in reported] == [2, 1]
    assert reported[0]["order"]["photo_keys"] == [order.report_photo_key, "photo-b", "photo-c"]


def test_escalation_counts_once_per_period_and_stops_at_the_limit(orders: SqlWorkOrders) -> None:
    order, _ = orders.create(new_order("k1", reporter=Reporter("slack", "T1", "guard"), severity="medium"))
    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    with orders.engine.begin() as conn:
        conn.execute(update(work_orders).where(work_orders.c.id == order.id).values(created_at=hour_ago))
    settings, events = Settings(claim_sla_minutes=30, max_escalations=2), Recorded()
    now = datetime.now(UTC)
    assert sweep(orders, events, settings, now) == 1
    assert sweep(orders, events, settings, now) == 0  # a second process sweeping the same moment
    assert sweep(orders, events, settings, now + timedelta(minutes=20)) == 0  # within the period
    assert sweep(orders, events, settings, now + timedelta(minutes=31)) == 1
    assert sweep(orders, events, settings, now + timedelta(minutes=90)) == 0  # at the limit
    assert events.events == []  # written with each escalation, in its transaction, not emitted after
    assert kinds(orders) == [("order.created", order.id), ("order.escalated", order.id), ("order.escalated", order.id)]
    assert [e.get("details") for e in staged(orders)][1:] == [{"count": 1}, {"count": 2}]
    assert orders.get(order.id).escalations == 2  # type: ignore[union-attr]


def test_the_csv_export_streams_ten_thousand_orders_with_chinese_text(orders: SqlWorkOrders) -> None:
    base = datetime(2026, 11, 1, tzinfo=UTC)
    orders.ping()  # makes the table
    rows = []
    for n in range(10_000):
        o = new_order(f"k{n}", description=f"三号楼漏水 {n}", location_text='=HYPERLINK("x")' if n == 7 else "东门")
        values = orders._row_values(
            Order(**{**_order_fields(o, n), "created_at": base + timedelta(minutes=n)}), o.report_key
        )
        rows.append(values)
    with orders.engine.begin() as conn:
        conn.execute(work_orders.insert(), rows)
    zone = Settings().zone
    text = "".join(export.csv_chunks(orders.export(), zone))
    assert text.startswith(export.BOM)
    table = list(csv.reader(io.StringIO(text.removeprefix(export.BOM))))
    assert table[0][:3] == ["id", "status", "alarm_type"] and len(table) == 10_001
    assert table[1][4] == "三号楼漏水 0" and table[10_000][4] == "三号楼漏水 9999"
    assert table[8][5] == '\'=HYPERLINK("x")'  # a formula someone typed is shown, never run
    assert table[1][11] == "2026-11-01 08:00:00"  # in TIMEZONE (Asia/Shanghai)
    since = datetime(2026, 11, 1, 9, tzinfo=zone)
    some = list(orders.export(since=since, until=since + timedelta(minutes=10), status="open"))
    assert len(some) == 10
    with pytest.raises(ValueError):
        orders.export(status="lost")


def _order_fields(new: Any, n: int) -> dict[str, Any]:
    return {
        "id": "WO-20261101-" + "".join(ID_ALPHABET[(n // 32**i) % 32] for i in range(5)),
        "status": "open",
        "alarm_type": new.alarm_type,
        "description": new.description,
        "severity": new.severity,
        "location_text": new.location_text,
        "latitude": None,
        "longitude": None,
        "report_photo_key": new.report_photo_key,
        "close_photo_key": None,
        "vlm_resolved": None,
        "vlm_reason": None,
        "reporter": new.reporter,
        "alarm_id": None,
        "created_at": datetime.now(UTC),
        "closed_at": None,
        "history": [],
    }
