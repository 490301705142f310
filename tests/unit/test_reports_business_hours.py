"""Time to fix and the resolution SLA in reports count business hours, as the resolution SLA's sweep does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bot.config import Settings
from bot.reports.figures import OrderFacts, Sla

H = 3600.0
FRIDAY_5PM = datetime(2026, 12, 4, 9, tzinfo=UTC)  # 17:00 in Asia/Shanghai


def _facts(**changes: Any) -> OrderFacts:
    base: dict[str, Any] = dict(
        id="WO-20261204-AAAAA",
        status="open",
        stage="resolved",
        severity="high",
        alarm_type="漏水",
        platform="slack",
        tenant="T1",
        site="",
        zone="",
        assignee="tech",
        created_at=FRIDAY_5PM,
        claimed_at=FRIDAY_5PM,
        resolved_at=FRIDAY_5PM + timedelta(days=3),  # Monday 17:00
        closed_at=None,
        held_seconds=0.0,
        on_hold_since=None,
        reopen_count=0,
        auto_confirmed=False,
        vlm_resolved=True,
    )
    base.update(changes)
    return OrderFacts(**base)


def _sla(business_hours: str) -> Sla:
    settings = Settings(timezone="Asia/Shanghai", business_hours=business_hours, resolve_sla_hours="high:4")
    return Sla(claim=settings.claim_sla_seconds, resolve=settings.resolve_sla_seconds, hours=settings.business_time)


def test_a_fix_over_a_weekend_counts_only_the_working_hours() -> None:
    order = _facts()
    assert _sla("").fix_seconds(order) == 72 * H  # every hour counts
    # Friday 17:00–18:00 and Monday 08:00–17:00: ten working hours
    assert _sla("Mon-Fri 08:00-18:00").fix_seconds(order) == 10 * H
    assert _sla("Mon-Fri 08:00-18:00").resolve_overrun(order, FRIDAY_5PM) == 6 * H  # 10 h against a 4 h target


def test_time_on_hold_is_taken_out_and_an_unclaimed_order_has_no_resolution_clock() -> None:
    sla = _sla("Mon-Fri 08:00-18:00")
    assert sla.fix_seconds(_facts(held_seconds=2 * H)) == 8 * H
    assert sla.resolve_overrun(_facts(claimed_at=None, stage=None, resolved_at=None), FRIDAY_5PM) < 0
