"""The ``sites`` table: each tenant's registry of places (``bot.sites``), in the orders database.

Declared on the orders' ``metadata``, so ``ensure_schema`` creates it with the rest once this module is imported
(the sites repository imports it before it calls ``ensure_schema``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Column, Double, Index, String, Table, Text
from sqlalchemy.engine import Row

from bot.adapters.sql.tables import UtcDateTime, metadata
from bot.sites.model import Site

sites = Table(
    "sites",
    metadata,
    Column("platform", String(32), primary_key=True),
    Column("tenant", String(128), primary_key=True),
    Column("id", String(64), primary_key=True),
    Column("name", Text, nullable=False),
    Column("aliases", JSON, nullable=False),  # ["B3 east gate", "东门3号楼", …]
    Column("latitude", Double, nullable=True),
    Column("longitude", Double, nullable=True),
    Column("datum", String(8), nullable=True),  # wgs84 | gcj02: the datum of latitude/longitude
    Column("zone", Text, nullable=True),
    Column("parent", String(64), nullable=True),  # the id of the site it is part of (building → floor → room)
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_sites_zone", "platform", "tenant", "zone"),
)


def row_to_site(row: Row[Any]) -> Site:
    m = row._mapping
    return Site(
        id=m["id"],
        name=m["name"],
        aliases=tuple(m["aliases"] or ()),
        latitude=m["latitude"],
        longitude=m["longitude"],
        datum="gcj02" if m["datum"] == "gcj02" else "wgs84",
        zone=m["zone"] or "",
        parent=m["parent"] or "",
    )
