"""Orders with known timestamps written straight into the SQL tables, with their timeline: the fixture reports are
computed from. ``History.order`` replays an order's moves (as the order's lifecycle records them) into the order
table's columns and one ``order_timeline`` row per move, so a report reads what the lifecycle would have left."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert

from bot.adapters.sql.tables import ensure_schema, order_timeline, work_orders

Move = tuple[str, datetime] | tuple[str, datetime, str]  # (kind, at[, actor user])
_LIFE = {
    "claimed": "claimed",
    "started": "in_progress",
    "on_hold": "on_hold",
    "resumed": "in_progress",
    "resolved": "resolved",
    "reopened": "in_progress",
    "confirmed": "closed",
    "auto_confirmed": "closed",
    "closed": "closed",
    "cancelled": "cancelled",
}


class History:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        ensure_schema(engine)
        self._keys = itertools.count(1)

    def order(
        self,
        order_id: str,
        created: datetime,
        moves: Sequence[Move] = (),
        *,
        severity: str = "medium",
        alarm_type: str = "漏水",
        site: str | None = None,
        zone: str | None = None,
        platform: str = "slack",
        tenant: str = "T1",
        vlm_resolved: bool | None = None,
    ) -> None:
        row: dict[str, Any] = {
            "id": order_id,
            "report_key": f"report-{next(self._keys)}",
            "status": "open",
            "alarm_type": alarm_type,
            "description": "地面积水",
            "severity": severity,
            "location_text": site or "3号楼",
            "report_photo_key": f"img/{order_id}.jpg",
            "reporter_platform": platform,
            "reporter_tenant": tenant,
            "reporter_user": "reporter",
            "created_at": created,
            "history": [],
            "site_id": None if site is None else f"site-{site}",
            "site_name": site,
            "zone": zone,
            "vlm_resolved": vlm_resolved,
            "held_seconds": 0.0,
            "reopen_count": 0,
        }
        timeline = [self._row(order_id, "created", created, None, "open", "reporter")]
        life = "open"
        for move in moves:
            kind, at = move[0], move[1]
            actor = move[2] if len(move) == 3 else None
            after = _LIFE.get(kind, life)
            self._apply(row, kind, at, actor)
            timeline.append(self._row(order_id, kind, at, life, after, actor))
            life = after
        with self.engine.begin() as conn:
            conn.execute(insert(work_orders), [row])
            conn.execute(insert(order_timeline), timeline)

    @staticmethod
    def _apply(row: dict[str, Any], kind: str, at: datetime, actor: str | None) -> None:
        if kind == "claimed":
            row.update(stage="claimed", claimed_at=row.get("claimed_at") or at)
            row.update(assignee_platform=row["reporter_platform"], assignee_tenant=row["reporter_tenant"])
            row["assignee_user"] = actor
        elif kind in ("started", "resumed"):
            if kind == "resumed" and row.get("on_hold_since"):
                row["held_seconds"] += (at - row["on_hold_since"]).total_seconds()
            row.update(stage="in_progress", on_hold_since=None, started_at=row.get("started_at") or at)
        elif kind == "on_hold":
            row.update(stage="on_hold", on_hold_since=at)
        elif kind == "resolved":
            row.update(stage="resolved", resolved_at=at)
        elif kind == "reopened":
            row.update(stage="in_progress", resolved_at=None, reopen_count=row["reopen_count"] + 1)
        elif kind in ("confirmed", "auto_confirmed", "closed"):
            row.update(status="closed", closed_at=at, auto_confirmed=kind == "auto_confirmed")
        elif kind == "cancelled":
            row.update(status="cancelled", closed_at=at)

    @staticmethod
    def _row(
        order_id: str, kind: str, at: datetime, before: str | None, after: str, actor: str | None
    ) -> dict[str, Any]:
        return {
            "order_id": order_id,
            "at": at,
            "kind": kind,
            "from_status": before,
            "to_status": after,
            "actor_platform": None if actor is None else "slack",
            "actor_tenant": None if actor is None else "T1",
            "actor_user": actor,
            "reason": None,
            "detail": None,
        }


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


ZONE = "Asia/Shanghai"


def local(day: int, hour: int, minute: int = 0, month: int = 12) -> datetime:
    """A moment of 2026 in Shanghai (UTC+8, no summer time)."""
    from zoneinfo import ZoneInfo

    return datetime(2026, month, day, hour, minute, tzinfo=ZoneInfo(ZONE))


NOW = local(8, 9)  # Tuesday 2026-12-08 09:00: the report asked for covers 12-01 … 12-07


def a_week(history: History, platform: str = "slack", tenant: str = "T1") -> None:
    """Seven orders over the week of 2026-12-01 (figures worked out by hand in tests/integration/test_reports.py),
    reported on ``platform`` in ``tenant`` — all but one on Slack, by default, the other on WeCom."""
    h = _Reported(history, platform, tenant)
    # fixed within every target: claimed in 10 min, 2 h on hold, fixed 2 h after the claim; confirmed
    h.order(
        "WO-20261201-AAAAA",
        local(1, 9),
        [
            ("claimed", local(1, 9, 10), "alice"),
            ("started", local(1, 9, 20), "alice"),
            ("on_hold", local(1, 10), "alice"),
            ("resumed", local(1, 12), "alice"),
            ("resolved", local(1, 13, 10), "alice"),
            ("confirmed", local(1, 14), "reporter"),
        ],
        severity="high",
        site="A栋",
        zone="东区",
        vlm_resolved=True,
    )
    # claimed late, a refused fix photo, "fixed", sent back, fixed the next day, confirmed by the bot
    h.order(
        "WO-20261202-BBBBB",
        local(2, 8),
        [
            ("claimed", local(2, 9), "bob"),
            ("fix_rejected", local(2, 10), "bob"),
            ("resolved", local(2, 11), "bob"),
            ("reopened", local(2, 15), "reporter"),
            ("resolved", local(3, 10), "bob"),
            ("auto_confirmed", local(6, 10)),
        ],
        site="A栋",
        zone="东区",
        vlm_resolved=True,
    )
    # never claimed: breaching now
    h.order(
        "WO-20261203-CCCCC",
        local(3, 10),
        severity="low",
        alarm_type="电气故障",
        site="B栋",
        zone="西区",
        platform="wecom" if platform == "slack" else platform,
        tenant="T2" if platform == "slack" else tenant,
    )
    # after the period: in the backlog only, on hold
    h.order(
        "WO-20261208-DDDDD",
        local(8, 8),
        [("claimed", local(8, 8, 5), "alice"), ("started", local(8, 8, 10), "alice"), ("on_hold", local(8, 8, 30))],
        severity="high",
        alarm_type="火情/烟雾",
    )
    # before the period, still being worked on: the oldest of the backlog, far past its resolution target
    h.order(
        "WO-20261125-EEEEE",
        local(25, 10, month=11),
        [("claimed", local(25, 10, 5, month=11), "carol"), ("started", local(26, 9, month=11), "carol")],
        site="A栋",
        zone="东区",
    )
    h.order("WO-20261204-FFFFF", local(4, 9), [("cancelled", local(4, 9, 30), "reporter")], site="A栋", zone="东区")
    # closed at once by the photo check (a close before stages existed: no resolved_at)
    h.order(
        "WO-20261205-GGGGG",
        local(5, 9),
        [("claimed", local(5, 9, 20), "bob"), ("closed", local(5, 12), "bob")],
        alarm_type="通道堵塞",
        vlm_resolved=True,
    )


class _Reported:
    """``History`` with a platform and tenant for the orders that name none."""

    def __init__(self, history: History, platform: str, tenant: str) -> None:
        self.history, self.platform, self.tenant = history, platform, tenant

    def order(self, order_id: str, created: datetime, moves: Sequence[Move] = (), **values: Any) -> None:
        values.setdefault("platform", self.platform)
        values.setdefault("tenant", self.tenant)
        self.history.order(order_id, created, moves, **values)
