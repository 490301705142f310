"""A database made by the schema before the order's life (no stage columns, no order_timeline) opened by this
version, on SQLite and PostgreSQL: the columns and the table are added on first use, an open order with an
assignee reads as ``claimed``, a closed one keeps its history, and the new moves run on the old rows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    Double,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    inspect,
)

from bot.adapters.sql.orders import SqlWorkOrders
from bot.adapters.sql.tables import UtcDateTime
from bot.config import Settings
from bot.orders import moves
from bot.ports import Reporter
from tests.integration.test_orders import _base_url, _postgres_repo, schema  # noqa: F401 (a fixture)

pytestmark = pytest.mark.integration

# The work_orders table as bot/adapters/sql/tables.py declared it before the order's life (commit 2a99f57's
# parent): copied, not imported, so this test keeps testing that schema whatever tables.py becomes.
old_metadata = MetaData()
old_work_orders = Table(
    "work_orders",
    old_metadata,
    Column("id", String(32), primary_key=True),
    Column("report_key", Text, nullable=False, unique=True),
    Column("status", String(16), nullable=False),
    Column("alarm_type", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("severity", String(32), nullable=False),
    Column("location_text", Text, nullable=False),
    Column("latitude", Double, nullable=True),
    Column("longitude", Double, nullable=True),
    Column("report_photo_key", Text, nullable=False),
    Column("close_photo_key", Text, nullable=True),
    Column("more_photo_keys", JSON, nullable=True),
    Column("vlm_resolved", Boolean, nullable=True),
    Column("vlm_reason", Text, nullable=True),
    Column("cancel_reason", Text, nullable=True),
    Column("closed_by_platform", Text, nullable=True),
    Column("closed_by_tenant", Text, nullable=True),
    Column("closed_by_user", Text, nullable=True),
    Column("cancelled_by_platform", Text, nullable=True),
    Column("cancelled_by_tenant", Text, nullable=True),
    Column("cancelled_by_user", Text, nullable=True),
    Column("reporter_platform", Text, nullable=False),
    Column("reporter_tenant", Text, nullable=False),
    Column("reporter_user", Text, nullable=False),
    Column("alarm_id", Text, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("closed_at", UtcDateTime, nullable=True),
    Column("history", JSON, nullable=False),
    Column("assignee_platform", Text, nullable=True),
    Column("assignee_tenant", Text, nullable=True),
    Column("assignee_user", Text, nullable=True),
    Column("claimed_at", UtcDateTime, nullable=True),
    Column("escalations", Integer, nullable=True),
    Column("escalated_at", UtcDateTime, nullable=True),
    Column("more_reporters", JSON, nullable=True),
    Column("photo_hash", String(16), nullable=True),
    Column("note", Text, nullable=True),
    Column("voice_keys", JSON, nullable=True),
    CheckConstraint("status IN ('open', 'closed', 'cancelled')", name="ck_work_orders_status"),
    Index("ix_work_orders_status_created", "status", "created_at"),
    Index("ix_work_orders_reporter", "reporter_platform", "reporter_tenant", "reporter_user"),
)

REPORTER = Reporter("slack", "T1", "UREP")
TECH = Reporter("slack", "T1", "UTECH")
NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def _row(order_id: str, status: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": order_id,
        "report_key": f"rk-{order_id}",
        "status": status,
        "alarm_type": "water leak",
        "description": "leak",
        "severity": "high",
        "location_text": "Gate 4",
        "report_photo_key": "img/report.jpg",
        "reporter_platform": REPORTER.platform,
        "reporter_tenant": REPORTER.tenant,
        "reporter_user": REPORTER.user,
        "created_at": NOW,
        "history": [{"role": "user", "text": "leak"}],
        **extra,
    }


CLAIMED = "WO-20261201-CCCCC"
CLOSED = "WO-20261201-DDDDD"
UNCLAIMED = "WO-20261201-EEEEE"


@pytest.fixture(params=["sqlite", "postgresql"])
def old_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(url, engine options) of a database holding today's table and three orders of it."""
    if request.param == "sqlite":
        url, options = f"sqlite:///{tmp_path / 'old.db'}", {}
    else:
        name = request.getfixturevalue("schema")
        url, options = _base_url(), {"connect_args": {"options": f"-csearch_path={name}"}}
    engine = create_engine(url, **options)
    old_metadata.create_all(engine)
    tech = {"assignee_platform": TECH.platform, "assignee_tenant": TECH.tenant, "assignee_user": TECH.user}
    with engine.begin() as conn:
        conn.execute(old_work_orders.insert(), [_row(CLAIMED, "open", claimed_at=NOW, **tech)])
        closed = _row(CLOSED, "closed", closed_at=NOW + timedelta(hours=1), close_photo_key="img/fix.jpg", **tech)
        conn.execute(old_work_orders.insert(), [closed])
        conn.execute(old_work_orders.insert(), [_row(UNCLAIMED, "open")])
    assert "stage" not in {c["name"] for c in inspect(engine).get_columns("work_orders")}
    assert not inspect(engine).has_table("order_timeline")
    engine.dispose()
    yield url, options


def test_todays_database_opens_and_runs_the_new_flows(old_database: tuple[str, dict[str, Any]]) -> None:
    url, options = old_database
    orders = SqlWorkOrders(url, engine_options=options or None)
    settings = Settings()
    try:
        claimed, closed = orders.get(CLAIMED), orders.get(CLOSED)
        assert claimed is not None and claimed.life == "claimed" and claimed.assignee == TECH and claimed.stage is None
        assert closed is not None and closed.life == "closed" and closed.history == [{"role": "user", "text": "leak"}]
        assert orders.timeline(CLAIMED) == []  # no history is made up for old rows

        def act(action: str, order_id: str, by: Reporter, **params: Any) -> moves.Outcome:
            return moves.act(orders, settings, action, order_id, by, **params)

        assert act("start", CLAIMED, REPORTER).problem == "who"
        assert act("start", CLAIMED, TECH).order.life == "in_progress"  # type: ignore[union-attr]
        assert act("hold", CLAIMED, TECH, reason="parts").order.life == "on_hold"  # type: ignore[union-attr]
        assert act("resolve", CLAIMED, TECH, photo_key="img/fixed.jpg", resolved=True, why="dry").done
        reopened = act("reopen", CLAIMED, REPORTER, reason="still wet", photo_key="img/wet.jpg").order
        assert reopened is not None and reopened.reopen_count == 1 and reopened.assignee == TECH
        assert act("confirm", CLOSED, REPORTER).problem == "state"  # closed before the life existed: stays closed
        assert act("rate", CLOSED, REPORTER, rating=4).order.rating == 4  # type: ignore[union-attr]
        won, _ = orders.claim(UNCLAIMED, TECH)
        assert won.life == "claimed" and won.stage == "claimed"
        kinds = [row["kind"] for row in orders.timeline(CLAIMED)]
        assert kinds == ["started", "on_hold", "resolved", "reopened"]
        assert [row["kind"] for row in orders.timeline(UNCLAIMED)] == ["claimed"]
    finally:
        orders.dispose()
