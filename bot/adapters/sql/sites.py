"""The site registry (``bot.sites.model.SiteRegistry``) on the orders database: SQLite or PostgreSQL.

An import is one transaction: all of a file or nothing. Reads are cached per tenant for ``CACHE_SECONDS`` (a turn
asks for the registry on every typed place; ops change it rarely), and an import in this process drops the cache
at once; other processes see it within ``CACHE_SECONDS``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, delete, func, select

from bot.adapters.sql.database import guarded
from bot.adapters.sql.site_tables import row_to_site, sites
from bot.adapters.sql.tables import ensure_schema
from bot.ports import Tenant
from bot.sites.model import Applied, Site

CACHE_SECONDS = 30.0


class SqlSites:
    def __init__(self, engine: Engine, clock: Callable[[], float] = time.monotonic) -> None:
        self._engine = engine
        self._clock = clock
        self._ready_done = False
        self._lock = threading.Lock()
        self._cache: dict[Tenant, tuple[float, list[Site]]] = {}

    def _ready(self) -> None:
        if self._ready_done:
            return
        with self._lock, guarded("creating tables"):
            if not self._ready_done:
                ensure_schema(self._engine)
                self._ready_done = True

    @staticmethod
    def _of(home: Tenant) -> list[Any]:
        return [sites.c.platform == home.platform, sites.c.tenant == home.tenant]

    def all(self, home: Tenant) -> list[Site]:
        now = self._clock()
        cached = self._cache.get(home)
        if cached is not None and now - cached[0] < CACHE_SECONDS:
            return cached[1]
        self._ready()
        with guarded("reading sites"), self._engine.connect() as conn:
            found = [
                row_to_site(row) for row in conn.execute(select(sites).where(*self._of(home)).order_by(sites.c.id))
            ]
        self._cache[home] = (now, found)
        return found

    def apply(self, home: Tenant, new: Sequence[Site], *, replace: bool) -> Applied:
        self._ready()
        ids = [site.id for site in new]
        now = datetime.now(UTC)
        with guarded("importing sites"), self._engine.begin() as conn:
            before = set(conn.execute(select(sites.c.id).where(*self._of(home))).scalars())
            gone = before - set(ids) if replace else set()
            for chunk in _chunks(sorted(gone | (before & set(ids)))):
                conn.execute(delete(sites).where(*self._of(home), sites.c.id.in_(chunk)))
            if new:
                conn.execute(sites.insert(), [_values(home, site, now) for site in new])
        self._cache.pop(home, None)
        updated = len(before & set(ids))
        return Applied(
            added=len(ids) - updated,
            updated=updated,
            removed=len(gone),
            total=len(before) - len(gone) + len(ids) - updated,
        )

    def tenants(self) -> dict[Tenant, int]:
        self._ready()
        query = select(sites.c.platform, sites.c.tenant, func.count()).group_by(sites.c.platform, sites.c.tenant)
        with guarded("counting sites"), self._engine.connect() as conn:
            return {Tenant(platform, tenant): int(n) for platform, tenant, n in conn.execute(query)}


def _chunks(ids: list[str], size: int = 500) -> list[list[str]]:
    return [ids[start : start + size] for start in range(0, len(ids), size)]


def _values(home: Tenant, site: Site, now: datetime) -> dict[str, Any]:
    return {"platform": home.platform, "tenant": home.tenant, **site.record(), "updated_at": now}


def build_sites(orders: object) -> SqlSites | None:
    """The registry on the orders' database, when the orders are kept in SQL (None for an in-memory fake)."""
    engine = getattr(orders, "engine", None)
    return SqlSites(engine) if isinstance(engine, Engine) else None
