"""The site registry's section of the ops page (``/admin/sites``), on the page's blueprint: its sign-in, its CSRF
check and its error pages. A tenant's sites, the CSV download and upload, and the QR tags."""

from __future__ import annotations

from typing import Any

from flask import Response, redirect, request, url_for

from bot.sites.admin import tenant_of
from bot.sites.tags import sheet_parts
from handlers.web.admin import sites_files
from handlers.web.admin.context import sites
from handlers.web.admin.page import bp, page, who


@bp.get("/sites")
def sites_index() -> Any:
    a = request.args
    home = tenant_of(a["platform"], a["tenant"]) if a.get("platform") or a.get("tenant") else None
    registry = sites()
    shown = registry.list(home, a.get("zone") or None) if home else []
    counts = sorted(registry.tenants().items(), key=str)
    done = f"Imported: {a['imported']}" if a.get("imported") else None
    parts = range(1, sheet_parts(len(shown)) + 1)  # a sheet of more than SHEET_MAX_SITES tags is printed by parts
    zone = a.get("zone") or ""
    return page("sites.html", home=home, shown=shown, tenants=counts, site_zone=zone, parts=parts, message=done)


@bp.get("/sites.csv")
def sites_csv() -> Response:
    home = tenant_of(request.args.get("platform"), request.args.get("tenant"))
    return Response(
        sites().export_csv(home),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="sites-{home.platform}.csv"'},
    )


@bp.get("/sites/tag.png")
def sites_tag() -> Response:
    home = tenant_of(request.args.get("platform"), request.args.get("tenant"))
    return sites_files.tag(home, request.args.get("site", ""))


@bp.get("/sites/tags.pdf")
def sites_sheet() -> Response:
    return sites_files.sheet(tenant_of(request.args.get("platform"), request.args.get("tenant")), request.args)


@bp.post("/sites/import")
def sites_import() -> Any:
    form = request.form
    home = tenant_of(form.get("platform"), form.get("tenant"))
    upload = request.files.get("file")
    data = upload.read() if upload is not None else b""
    applied = sites().import_csv(home, data, replace=form.get("replace") == "1", who=who())
    done = f"{applied.added} added, {applied.updated} updated, {applied.removed} removed; {applied.total} sites now"
    return redirect(url_for("admin_page.sites_index", platform=home.platform, tenant=home.tenant, imported=done))
