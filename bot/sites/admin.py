"""What ops do with a tenant's sites: list, export and import the CSV (audited), print tags.

The admin API, the admin page and the CLI all call ``SiteOps`` (as they call ``bot.ops.Ops`` for sessions and
orders); an import is recorded in the same audit trail, as ``sites.import`` on ``platform:tenant``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from bot.ops import Invalid, NotFound
from bot.ports import Tenant
from bot.sites.csv_io import BadSiteFile, read_sites, write_sites
from bot.sites.model import Applied, Site, SiteRegistry
from bot.sites.tags import SHEET_MAX_SITES, sheet_parts, sheet_pdf, tag_png

MAX_CSV_BYTES = 2 * 1024 * 1024
_PLATFORM = re.compile(r"[A-Za-z0-9_.-]{1,32}")
_TENANT = re.compile(r"[A-Za-z0-9_.@-]{1,128}")

Audit = Callable[..., None]  # Ops.audit(who, action, target, before=…, after=…)


class TooLarge(Invalid):
    """The file is over ``MAX_CSV_BYTES`` (the API answers 413)."""


def tenant_of(platform: Any, tenant: Any) -> Tenant:
    """A tenant named in a request, checked (Invalid says which part is wrong)."""
    if not isinstance(platform, str) or not _PLATFORM.fullmatch(platform):
        raise Invalid("platform must be a platform name (letters, digits, _ . -)")
    if not isinstance(tenant, str) or not _TENANT.fullmatch(tenant):
        raise Invalid("tenant must be 1 to 128 letters, digits or _ . @ -")
    return Tenant(platform, tenant)


def site_json(site: Site) -> dict[str, Any]:
    return site.record()


class SiteOps:
    def __init__(self, registry: SiteRegistry, audit: Audit) -> None:
        self.registry = registry
        self.audit = audit

    def list(self, home: Tenant, zone: str | None = None) -> list[Site]:
        found = self.registry.all(home)
        return [site for site in found if site.zone == zone] if zone else found

    def site(self, home: Tenant, site_id: str) -> Site:
        for site in self.registry.all(home):
            if site.id == site_id:
                return site
        raise NotFound(f"no site {site_id!r} in {home.platform}:{home.tenant}")

    def tenants(self) -> dict[Tenant, int]:
        return self.registry.tenants()

    def export_csv(self, home: Tenant) -> str:
        return write_sites(self.registry.all(home))

    def import_csv(self, home: Tenant, data: bytes, *, replace: bool, who: str) -> Applied:
        """Check the whole file, then apply it in one transaction; Invalid ("line 4: …") applies nothing."""
        if len(data) > MAX_CSV_BYTES:
            raise TooLarge(f"the file is over {MAX_CSV_BYTES // 1024 // 1024} MB")
        before = self.registry.all(home)
        try:
            new = read_sites(data, () if replace else before)
        except BadSiteFile as exc:
            raise Invalid(str(exc)) from None
        applied = self.registry.apply(home, new, replace=replace)
        self.audit(
            who,
            "sites.import",
            f"{home.platform}:{home.tenant}",
            before={"sites": len(before)},
            after={
                "sites": applied.total,
                "added": applied.added,
                "updated": applied.updated,
                "removed": applied.removed,
                "replace": replace,
            },
        )
        return applied

    def tag(self, home: Tenant, site_id: str) -> bytes:
        """The site's QR tag as a PNG (NotFound for an id the tenant has no site of)."""
        return tag_png(home.tenant, self.site(home, site_id))

    def sheet(self, home: Tenant, zone: str | None = None, part: int | None = None) -> bytes:
        """A4 sheets of the tenant's (or one zone's) tags as one PDF; NotFound when there are none.

        One PDF holds at most ``SHEET_MAX_SITES`` tags: more sites are printed by ``part`` (1, 2, …: the sites of
        the list's order, ``SHEET_MAX_SITES`` each); without a part, more sites than that are Invalid, naming the
        parts there are."""
        found = self.list(home, zone)
        if not found:
            raise NotFound(f"no sites in {home.platform}:{home.tenant}" + (f" zone {zone!r}" if zone else ""))
        parts = sheet_parts(len(found))
        if part is None and parts > 1:
            raise Invalid(
                f"{len(found)} sites: a sheet holds at most {SHEET_MAX_SITES} tags; "
                f"ask for one zone (zone=) or one part at a time (part=1 … part={parts})"
            )
        if part is not None and not 1 <= part <= parts:
            raise Invalid(f"part must be 1 … {parts} ({len(found)} sites, {SHEET_MAX_SITES} a part)")
        start = ((part or 1) - 1) * SHEET_MAX_SITES
        return sheet_pdf(home.tenant, found[start : start + SHEET_MAX_SITES])

    @staticmethod
    def applied_json(applied: Applied) -> dict[str, int]:
        return {"added": applied.added, "updated": applied.updated, "removed": applied.removed, "total": applied.total}
