"""The work-order repository against a real PostgreSQL (psycopg 3), each test in its own schema.

Needs PostgreSQL at ``postgresql://postgres@127.0.0.1:5432/test`` (or ``$TEST_DATABASE_URL``).
If it is not reachable these tests FAIL: a skipped database test hides a broken deployment path.
"""

from __future__ import annotations

import os
import re
import secrets
import threading
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from bot.orders import SqlWorkOrders
from bot.orders_table import work_orders
from bot.ports import NewOrder, OrderError, OrderNotFound, Reporter, ServiceError

pytestmark = pytest.mark.integration

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
ID_FORMAT = re.compile(r"^WO-\d{8}-[23456789ABCDEFGHJKLMNPQRSTUVWXYZ]{5}$")
ALICE = Reporter("feishu", "tenant-1", "ou_alice")
BOB = Reporter("feishu", "tenant-1", "ou_bob")


def new_order(report_key: str, reporter: Reporter = ALICE, **changes: object) -> NewOrder:
    values: dict[str, object] = {
        "report_key": report_key,
        "reporter": reporter,
        "alarm_type": "漏水",
        "description": "泵房地面积水",
        "severity": "high",
        "location_text": "3号楼 地下一层",
        "latitude": 31.2304,
        "longitude": 121.4737,
        "report_photo_key": f"img/{report_key}.jpg",
        "alarm_id": None,
        "history": [{"role": "user", "text": "照片"}],
    }
    values.update(changes)
    return NewOrder(**values)  # type: ignore[arg-type]


def _base_url() -> str:
    return os.environ.get("TEST_DATABASE_URL") or DEFAULT_URL


def _libpq_url(url: str) -> str:
    """psycopg wants a plain libpq URL, without SQLAlchemy's ``+driver``."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def schema() -> Iterator[str]:
    """A fresh schema for one test, dropped afterwards, so tests never see each other's rows."""
    url = _base_url()
    name = f"wo_test_{secrets.token_hex(6)}"
    try:
        admin = psycopg.connect(_libpq_url(url), autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        shown = make_url(url).render_as_string(hide_password=True)
        pytest.fail(
            f"PostgreSQL is not reachable at {shown} ({exc.__class__.__name__}: {str(exc).strip()[:200]}). "
            "Start it or set TEST_DATABASE_URL; these tests must not be skipped.",
            pytrace=False,
        )
    try:
        admin.execute(f'CREATE SCHEMA "{name}"')
        yield name
    finally:
        admin.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        admin.close()


@pytest.fixture
def orders(schema: str) -> Iterator[SqlWorkOrders]:
    repo = SqlWorkOrders(_base_url(), engine_options={"connect_args": {"options": f"-csearch_path={schema}"}})
    yield repo
    repo.dispose()


def test_tables_live_in_the_test_schema_with_psycopg3(orders: SqlWorkOrders, schema: str) -> None:
    assert orders.engine.dialect.driver == "psycopg"
    with orders.engine.connect() as conn:
        found = conn.exec_driver_sql(
            "SELECT table_schema FROM information_schema.tables WHERE table_name = 'work_orders'"
            " AND table_schema = current_schema()"
        ).scalar()
    assert found == schema
    orders.ping()


def test_create_is_idempotent_and_get_ignores_case(orders: SqlWorkOrders) -> None:
    first, created = orders.create(new_order("rk-1"))
    again, created_again = orders.create(new_order("rk-1", description="redelivered"))

    assert (created, created_again) == (True, False)
    assert again == first
    assert ID_FORMAT.match(first.id)
    assert first.created_at.utcoffset() is not None and first.created_at.utcoffset().total_seconds() == 0
    assert orders.get(f" {first.id.lower()}  ") == first
    assert orders.get("WO-20990101-ABCDE") is None
    assert orders.get("garbage") is None


def test_history_round_trips_as_json(orders: SqlWorkOrders) -> None:
    history = [
        {"role": "user", "text": "漏水了"},
        {"role": "bot", "text": "在哪里？", "buttons": ["确认", "取消"], "n": 2, "ok": True, "none": None},
    ]
    order, _ = orders.create(new_order("rk-h", history=history, latitude=None, longitude=None))
    stored = orders.get(order.id)
    assert stored is not None
    assert stored.history == history
    assert stored.latitude is None and stored.longitude is None


def test_close_once_then_not_open(orders: SqlWorkOrders) -> None:
    order, _ = orders.create(new_order("rk-1"))

    closed = orders.close(order.id, "img/after.jpg", False, "water still visible")

    assert closed.status == "closed"
    assert closed.vlm_resolved is False and closed.vlm_reason == "water still visible"
    assert closed.close_photo_key == "img/after.jpg"
    assert closed.closed_at is not None and closed.closed_at >= closed.created_at
    assert orders.get(order.id) == closed
    with pytest.raises(OrderError, match="not open: closed"):
        orders.close(order.id, "img/again.jpg", True, "again")
    with pytest.raises(OrderNotFound):
        orders.close("WO-20990101-ABCDE", "img/x.jpg", True, "ok")


def test_cancel(orders: SqlWorkOrders) -> None:
    order, _ = orders.create(new_order("rk-1"))
    cancelled = orders.cancel(order.id, "reported twice")
    assert cancelled.status == "cancelled" and cancelled.cancel_reason == "reported twice"
    assert cancelled.closed_at is not None
    with pytest.raises(OrderError, match="not open: cancelled"):
        orders.cancel(order.id, "again")


def test_concurrent_closes_have_one_winner(orders: SqlWorkOrders) -> None:
    order, _ = orders.create(new_order("rk-1"))
    barrier = threading.Barrier(6)
    outcomes: list[str] = []

    def close(n: int) -> None:
        barrier.wait()
        try:
            orders.close(order.id, f"img/after-{n}.jpg", True, f"closer {n}")
            outcomes.append("won")
        except OrderError:
            outcomes.append("lost")

    threads = [threading.Thread(target=close, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["lost"] * 5 + ["won"]


def test_open_for_and_counts(orders: SqlWorkOrders) -> None:
    a1, _ = orders.create(new_order("a1"))
    a2, _ = orders.create(new_order("a2"))
    a3, _ = orders.create(new_order("a3"))
    orders.create(new_order("b1", reporter=BOB))
    orders.close(a2.id, "img/after.jpg", True, "fixed")
    orders.cancel(a3.id, "dup")

    assert [o.id for o in orders.open_for(ALICE)] == [a1.id]
    assert [o.reporter for o in orders.open_for(BOB)] == [BOB]
    assert orders.counts() == {"open": 2, "closed": 1, "cancelled": 1}


def test_list_pages_cover_everything_once_newest_first(orders: SqlWorkOrders) -> None:
    made = [orders.create(new_order(f"rk-{i}"))[0] for i in range(7)]
    expected = sorted(made, key=lambda o: (o.created_at, o.id), reverse=True)

    seen = []
    cursor = None
    while True:
        page, cursor = orders.list(cursor=cursor, limit=3)
        assert len(page) <= 3
        seen.extend(page)
        if cursor is None:
            break
    assert [o.id for o in seen] == [o.id for o in expected]
    assert len({o.id for o in seen}) == 7


def test_list_filters_by_status_and_text(orders: SqlWorkOrders) -> None:
    leak, _ = orders.create(new_order("rk-1", description="Water LEAK in pump room"))
    fire, _ = orders.create(new_order("rk-2", description="smoke near 100%_exit", location_text="Gate B"))
    bob, _ = orders.create(new_order("rk-3", reporter=BOB, description="broken light"))
    orders.close(leak.id, "img/after.jpg", True, "fixed")

    assert [o.id for o in orders.list(status="closed")[0]] == [leak.id]
    assert {o.id for o in orders.list(status="open")[0]} == {fire.id, bob.id}
    assert [o.id for o in orders.list(q="water leak")[0]] == [leak.id]
    assert [o.id for o in orders.list(q="GATE")[0]] == [fire.id]
    assert [o.id for o in orders.list(q="OU_BOB")[0]] == [bob.id]
    assert [o.id for o in orders.list(q=bob.id.lower())[0]] == [bob.id]
    assert [o.id for o in orders.list(q="%")[0]] == [fire.id]
    assert orders.list(q="p_mp")[0] == []
    assert orders.list(status="open", q="pump")[0] == []
    with pytest.raises(ValueError, match="cursor"):
        orders.list(cursor="not-a-cursor")


def test_concurrent_creates_with_one_report_key_make_one_row(orders: SqlWorkOrders) -> None:
    barrier = threading.Barrier(8)
    results: list[tuple[str, bool]] = []
    errors: list[BaseException] = []

    def create() -> None:
        barrier.wait()
        try:
            order, created = orders.create(new_order("same-confirmation"))
            results.append((order.id, created))
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=create) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert len(results) == 8
    assert len({order_id for order_id, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    with orders.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(work_orders)).scalar() == 1


def test_unreachable_server_is_a_service_error_without_the_password() -> None:
    # port 1 on loopback: nothing listens there, the connection is refused at once
    with pytest.raises(ServiceError, match="unavailable") as caught:
        SqlWorkOrders("postgresql://wobot:s3cret-pw@127.0.0.1:1/orders")
    assert "s3cret-pw" not in str(caught.value)
