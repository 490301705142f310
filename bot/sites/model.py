"""A site, and the registry port its adapter (``bot.adapters.sql.sites``) implements."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from bot.ports import Tenant

Datum = Literal["wgs84", "gcj02"]
DATUMS: tuple[Datum, ...] = ("wgs84", "gcj02")

SITE_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z_.\-/]{0,63}")  # no ":" — the QR text is WOBOT:<tenant>:<id>
MAX_NAME_CHARS = 100
MAX_ALIASES = 20
MAX_SITES = 5000  # of one tenant
MAX_DEPTH = 3  # building → floor → room


@dataclass(frozen=True)
class Site:
    id: str
    name: str
    aliases: tuple[str, ...] = ()
    latitude: float | None = None
    longitude: float | None = None
    datum: Datum = "wgs84"  # the datum the coordinates are in (GCJ-02: as Chinese maps give them)
    zone: str = ""
    parent: str = ""

    @property
    def names(self) -> tuple[str, ...]:
        """The name first, then the aliases."""
        return (self.name, *self.aliases)

    @property
    def located(self) -> bool:
        return self.latitude is not None and self.longitude is not None

    def record(self) -> dict[str, Any]:
        """The site as stored and as the admin API shows it (empty zone or parent: None)."""
        return {
            "id": self.id,
            "name": self.name,
            "aliases": list(self.aliases),
            "latitude": self.latitude,
            "longitude": self.longitude,
            "datum": self.datum if self.located else None,
            "zone": self.zone or None,
            "parent": self.parent or None,
        }


@dataclass(frozen=True)
class Applied:
    """What an import changed."""

    added: int
    updated: int
    removed: int
    total: int  # sites of the tenant afterwards


class SiteRegistry(Protocol):
    def all(self, home: Tenant) -> list[Site]:
        """The tenant's sites, by id ([] for a tenant without any). May be a few seconds old (cached)."""
        ...

    def apply(self, home: Tenant, sites: Sequence[Site], *, replace: bool) -> Applied:
        """Add or update ``sites`` (by id) in one transaction; ``replace`` also removes the tenant's sites not
        among them. All or nothing. Raises ServiceError when the database is down."""
        ...

    def tenants(self) -> dict[Tenant, int]:
        """Tenants with sites, and how many."""
        ...
