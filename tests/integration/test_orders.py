"""The work-order repository on both databases it supports: a SQLite file (a single-host deployment)
and a real PostgreSQL through psycopg 3, each PostgreSQL test in its own schema.

The tests that take ``orders`` run once per database. PostgreSQL is expected at
``postgresql://postgres@127.0.0.1:5432/test`` (or ``$TEST_DATABASE_URL``); if it is not reachable
these tests FAIL: a skipped database test hides a broken deployment path.
"""

from __future__ import annotations

import os
import re
import secrets
import threading
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from bot.adapters.sql.database import database_url
from bot.adapters.sql.orders import SqlWorkOrders, build_orders
from bot.adapters.sql.tables import work_orders
from bot.config import Settings
from bot.ports import NewOrder, OrderError, OrderNotFound, Reporter, ServiceError

pytestmark = pytest.mark.integration


DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


ID_FORMAT = re.compile(r"^WO-\d{8}-[23456789ABCDEFGHJKLMNPQRSTUVWXYZ]{5}$")


ALICE = Reporter("slack", "T1", "alice")


BOB = Reporter("wecom", "corp", "bob")


CAROL = Reporter("slack", "T1", "carol")  # ALICE's colleague: same platform and tenant


MALLORY = Reporter("slack", "T666", "alice")  # same user id, another Slack team


def new_order(report_key: str, reporter: Reporter = ALICE, **changes: object) -> NewOrder:
    values: dict[str, object] = {
        "report_key": report_key,
        "reporter": reporter,
        "alarm_type": "water leak",
        "description": "water on the floor of pump room",
        "severity": "high",
        "location_text": "Building 3, basement",
        "latitude": 31.2304,
        "longitude": 121.4737,
        "report_photo_key": f"img/{report_key}.jpg",
        "alarm_id": None,
        "history": [{"role": "user", "text": "photo"}],
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


def _postgres_repo(schema: str) -> SqlWorkOrders:
    return SqlWorkOrders(_base_url(), engine_options={"connect_args": {"options": f"-csearch_path={schema}"}})


@pytest.fixture(params=["sqlite", "postgresql"])
def orders(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlWorkOrders]:
    if request.param == "sqlite":
        repo = SqlWorkOrders(f"sqlite:///{tmp_path / 'nested' / 'orders.db'}")
    else:
        repo = _postgres_repo(request.getfixturevalue("schema"))
    yield repo
    repo.dispose()


@pytest.fixture
def pg_orders(schema: str) -> Iterator[SqlWorkOrders]:
    repo = _postgres_repo(schema)
    yield repo
    repo.dispose()


def test_first_use_creates_the_folder_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "orders.db"
    repo = SqlWorkOrders(f"sqlite:///{path}")
    try:
        repo.ping()
        assert path.exists()
        with repo.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
        repo.ping()
    finally:
        repo.dispose()


def test_build_orders_uses_the_settings_url(tmp_path: Path) -> None:
    repo = build_orders(Settings(database_url=f"sqlite:///{tmp_path / 'o.db'}"))
    try:
        assert repo.counts() == {"open": 0, "closed": 0, "cancelled": 0}
    finally:
        repo.dispose()


def test_postgresql_urls_get_the_psycopg3_driver() -> None:
    assert database_url("postgresql://u:p@db/x").drivername == "postgresql+psycopg"
    assert database_url("postgresql+psycopg2://u:p@db/x").drivername == "postgresql+psycopg2"
    assert database_url("sqlite:///x.db").drivername == "sqlite"


def test_create_returns_the_order_and_is_idempotent_per_report_key(orders: SqlWorkOrders) -> None:
    first, created = orders.create(new_order("rk-1"))
    again, created_again = orders.create(new_order("rk-1", description="a redelivered confirmation"))

    assert created is True and created_again is False
    assert again == first
    assert ID_FORMAT.match(first.id)
    assert first.status == "open"
    assert first.reporter == ALICE
    assert first.created_at.tzinfo is not None and first.created_at.utcoffset() == UTC.utcoffset(None)
    assert first.id[3:11] == first.created_at.strftime("%Y%m%d")
    assert orders.get(first.id) == first
    assert orders.counts() == {"open": 1, "closed": 0, "cancelled": 0}


def test_ids_match_the_phone_friendly_format(orders: SqlWorkOrders) -> None:
    ids = {orders.create(new_order(f"rk-{i}"))[0].id for i in range(20)}
    assert len(ids) == 20
    assert all(ID_FORMAT.match(i) for i in ids)


def test_get_ignores_case_and_spaces_and_rejects_malformed_ids(orders: SqlWorkOrders) -> None:
    order, _ = orders.create(new_order("rk-1"))
    assert orders.get(f"  {order.id.lower()} ") == order
    assert orders.get("WO-20990101-ABCDE") is None
    assert orders.get("WO-2099-ABC") is None
    assert orders.get("") is None
    assert orders.get("'; DROP TABLE work_orders; --") is None


def test_history_round_trips_as_json(orders: SqlWorkOrders) -> None:
    history = [
        {"role": "user", "text": "漏水了", "at": "2026-11-21T08:00:00Z"},
        {"role": "bot", "text": "where?", "buttons": ["confirm", "cancel"], "n": 2, "ok": True, "none": None},
    ]
    order, _ = orders.create(new_order("rk-h", history=history, latitude=None, longitude=None, alarm_id="A-9"))
    stored = orders.get(order.id)
    assert stored is not None
    assert stored.history == history
    assert stored.latitude is None and stored.longitude is None
    assert stored.alarm_id == "A-9"


def test_close_wins_once(orders: SqlWorkOrders) -> None:
    order, _ = orders.create(new_order("rk-1"))

    closed = orders.close(order.id.lower(), "img/after.jpg", True, "floor is dry", CAROL)

    assert closed.status == "closed"
    assert closed.close_photo_key == "img/after.jpg"
    assert closed.vlm_resolved is True and closed.vlm_reason == "floor is dry"
    assert closed.closed_at is not None and closed.closed_at >= closed.created_at
    assert closed.closed_by == CAROL and closed.cancelled_by is None
    assert orders.get(order.id) == closed
    with pytest.raises(OrderError, match="not open: closed"):
        orders.close(order.id, "img/again.jpg", False, "second try", CAROL)
    with pytest.raises(OrderError, match="not open: closed"):
        orders.cancel(order.id, "too late", ALICE)
    assert orders.get(order.id) == closed


def test_close_and_cancel_of_unknown_orders(orders: SqlWorkOrders) -> None:
    with pytest.raises(OrderNotFound):
        orders.close("WO-20990101-ABCDE", "img/x.jpg", True, "ok", CAROL)
    with pytest.raises(OrderNotFound):
        orders.cancel("not an id", "why", ALICE)


def test_cancel(orders: SqlWorkOrders) -> None:
    order, _ = orders.create(new_order("rk-1"))

    cancelled = orders.cancel(order.id, "duplicate report", ALICE)

    assert cancelled.status == "cancelled"
    assert cancelled.cancel_reason == "duplicate report"
    assert cancelled.cancelled_by == ALICE and cancelled.closed_by is None
    assert cancelled.closed_at is not None
    assert cancelled.close_photo_key is None and cancelled.vlm_resolved is None
    with pytest.raises(OrderError, match="not open: cancelled"):
        orders.close(order.id, "img/after.jpg", True, "fixed", CAROL)
    assert orders.counts() == {"open": 0, "closed": 0, "cancelled": 1}


def test_another_tenant_cannot_see_close_or_cancel_an_order(orders: SqlWorkOrders) -> None:
    order, _ = orders.create(new_order("rk-1"))

    assert orders.get(order.id, MALLORY.home) is None
    assert orders.get(order.id, ALICE.home) == order
    with pytest.raises(OrderNotFound):
        orders.close(order.id, "img/after.jpg", True, "fixed", MALLORY)
    with pytest.raises(OrderNotFound):
        orders.cancel(order.id, "mine now", MALLORY, MALLORY.home)
    assert orders.get(order.id) == order  # untouched

    assert orders.cancel(order.id, "dup", Reporter("ops", "", "admin")).cancelled_by == Reporter("ops", "", "admin")


def test_columns_added_since_the_table_was_made_are_added_on_first_use(tmp_path: Path) -> None:
    """A deployment whose table predates closed_by/cancelled_by keeps its rows and gains the columns."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = SqlWorkOrders(url)
    order, _ = old.create(new_order("rk-1"))
    with old.engine.begin() as conn:
        for column in ("closed_by_platform", "closed_by_tenant", "closed_by_user"):
            conn.exec_driver_sql(f"ALTER TABLE work_orders DROP COLUMN {column}")
    old.dispose()

    upgraded = SqlWorkOrders(url)
    try:
        assert upgraded.close(order.id, "img/after.jpg", True, "fixed", CAROL).closed_by == CAROL
    finally:
        upgraded.dispose()


def test_concurrent_closes_have_one_winner(orders: SqlWorkOrders) -> None:
    order, _ = orders.create(new_order("rk-1"))
    barrier = threading.Barrier(6)
    outcomes: list[str] = []

    def close(n: int) -> None:
        barrier.wait()
        try:
            orders.close(order.id, f"img/after-{n}.jpg", True, f"closer {n}", CAROL)
            outcomes.append("won")
        except OrderError:
            outcomes.append("lost")

    threads = [threading.Thread(target=close, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["lost"] * 5 + ["won"]


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


def test_two_repositories_on_one_file_see_each_other(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    one, two = SqlWorkOrders(url), SqlWorkOrders(url)
    try:
        order, _ = one.create(new_order("rk-1"))
        assert two.create(new_order("rk-1")) == (order, False)
        two.cancel(order.id, "dup", ALICE)
        assert one.counts() == {"open": 0, "closed": 0, "cancelled": 1}
    finally:
        one.dispose()
        two.dispose()


def test_unreachable_database_is_a_service_error_on_use_not_at_construction(tmp_path: Path) -> None:
    # a directory cannot be opened as a database file; building the repository must not fail (the app boots)
    repo = SqlWorkOrders(f"sqlite:///{tmp_path}")
    with pytest.raises(ServiceError, match="unavailable") as caught:
        repo.ping()
    assert str(tmp_path) not in str(caught.value)
    with pytest.raises(ServiceError):
        repo.get("WO-20990101-ABCDE")


def test_counts_by_status(orders: SqlWorkOrders) -> None:
    a1, _ = orders.create(new_order("a1"))
    a2, _ = orders.create(new_order("a2"))
    orders.create(new_order("b1", reporter=BOB))
    orders.close(a1.id, "img/after.jpg", True, "fixed", CAROL)
    orders.cancel(a2.id, "dup", ALICE)
    assert orders.counts() == {"open": 1, "closed": 1, "cancelled": 1}


# -- PostgreSQL only -----------------------------------------------------------------------------------------
def test_tables_live_in_the_test_schema_with_psycopg3(pg_orders: SqlWorkOrders, schema: str) -> None:
    assert pg_orders.engine.dialect.driver == "psycopg"
    pg_orders.ping()  # the first use creates the tables
    with pg_orders.engine.connect() as conn:
        found = conn.exec_driver_sql(
            "SELECT table_schema FROM information_schema.tables WHERE table_name = 'work_orders'"
            " AND table_schema = current_schema()"
        ).scalar()
    assert found == schema


def test_unreachable_server_is_a_service_error_without_the_password() -> None:
    # port 1 on loopback: nothing listens there, the connection is refused at once
    repo = SqlWorkOrders("postgresql://wobot:s3cret-pw@127.0.0.1:1/orders")
    with pytest.raises(ServiceError, match="unavailable") as caught:
        repo.ping()
    assert "s3cret-pw" not in str(caught.value)
