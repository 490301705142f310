"""The site registry on PostgreSQL: made by ensure_schema beside the orders, imported all or nothing."""

from __future__ import annotations

import pytest

from bot.adapters.sql.orders import SqlWorkOrders
from bot.adapters.sql.sites import SqlSites
from bot.ports import Tenant
from bot.sites.model import Site
from tests.support.sites import HOME, campus

pytestmark = pytest.mark.integration


def test_the_registry_lives_beside_the_orders_on_postgresql(pg_orders: SqlWorkOrders) -> None:
    registry = campus(pg_orders)
    gate = next(s for s in registry.all(HOME) if s.id == "B3-E")
    assert gate.aliases == ("B3 east gate", "东门3号楼", "3号楼东侧") and gate.datum == "gcj02" and gate.zone == "east"
    other = Tenant("slack", "T0123")
    registry.apply(other, [Site("B3", "Building 3")], replace=True)
    assert registry.tenants() == {HOME: 6, other: 1}
    with pytest.raises(Exception, match="sites"):  # a duplicate id breaks the insert: the transaction rolls back
        registry.apply(HOME, [Site("NEW", "新楼"), Site("NEW", "again")], replace=True)
    assert len(SqlSites(pg_orders.engine).all(HOME)) == 6
