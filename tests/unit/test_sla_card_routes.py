"""The resolution SLA's escalation card goes where the order's duty card goes by type, registry site and zone
(``bot.orders.duty_routes.order_target``): the ``ESCALATION_ROUTES`` entry for its site or zone, else the
``DUTY_ROUTES`` one; posted once per event and address however often the courier retries."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from bot.adapters.redis.store import SessionStore
from bot.config import Settings
from bot.orders.duty_routes import order_target
from bot.ports import Order, Reporter, SitePlace
from handlers.runner.sla_notices import deliver_sla

TECH = Reporter("slack", "T1", "tech")
EVENT = {"id": "ev-1", "type": "order.escalated", "details": {"sla": "resolve", "count": 1, "used_hours": 4.1}}


class Module:
    PLATFORM = "slack"

    def __init__(self) -> None:
        self.posted: list[tuple[str, str]] = []

    def post_card(self, runtime: Any, tenant: str, address: str, card: Any) -> dict[str, Any]:
        self.posted.append((tenant, address))
        return {"channel": address, "ts": str(len(self.posted))}


def _order(site: SitePlace | None) -> Order:
    return Order(
        id="WO-20261206-ABCDE",
        status="open",
        alarm_type="漏水",
        description="",
        severity="high",
        location_text="B3 east door",
        latitude=None,
        longitude=None,
        report_photo_key="k",
        close_photo_key=None,
        vlm_resolved=None,
        vlm_reason=None,
        reporter=Reporter("slack", "T1", "guard"),
        alarm_id=None,
        created_at=datetime(2026, 12, 6, tzinfo=UTC),
        closed_at=None,
        history=[],
        assignee=TECH,
        claimed_at=datetime(2026, 12, 6, 1, tzinfo=UTC),
        site=site,
    )


B3 = SitePlace("B3", "Building 3", "east")
DUTY = "slack:T1=C0DUTY,slack:T1:site:B3=C0DUTYB3"


@pytest.mark.parametrize(
    ("escalation", "site", "posted_to"),
    [
        ("slack:T1=C0SUP,slack:T1:zone:east=C0EAST", B3, "chat:C0EAST"),  # its zone's supervisors
        ("slack:T1=C0SUP,slack:T1:site:B3=C0SUPB3", B3, "chat:C0SUPB3"),  # its site's
        ("slack:T1=C0SUP,slack:T1:zone:east=C0EAST", None, "chat:C0SUP"),  # no site: the tenant's
        ("", B3, "chat:C0DUTYB3"),  # no escalation routes: the duty chat its duty card went to
    ],
)
def test_the_escalation_card_follows_the_orders_site_and_zone(
    settings: Settings, fake_store: SessionStore, escalation: str, site: SitePlace | None, posted_to: str
) -> None:
    settings = settings.with_(duty_routes=DUTY, escalation_routes=escalation)
    runtime, module, order = SimpleNamespace(settings=settings, store=fake_store), Module(), _order(site)
    deliver_sla(runtime, module, order, EVENT)  # type: ignore[arg-type]
    deliver_sla(runtime, module, order, EVENT)  # type: ignore[arg-type]  # a retry posts nothing again
    assert module.posted == [("T1", posted_to)]
    target = order_target(order, settings.escalation, settings.duty)
    assert target is not None and target.addresses() == [posted_to]


def test_the_duty_card_and_the_escalation_card_pick_by_the_same_rule(settings: Settings) -> None:
    settings = settings.with_(duty_routes=DUTY)
    duty = order_target(_order(B3), settings.duty)
    assert duty is not None and duty.addresses() == ["chat:C0DUTYB3"]
    assert order_target(_order(B3), settings.escalation) is None  # no escalation routes
