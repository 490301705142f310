"""The site registry's routes of the admin API (``/admin/api/sites…``), on the API's blueprint: its token check,
its errors, and its query parameters held to the OpenAPI document (``openapi_sites``).

An import is ``PUT /admin/api/sites.csv?platform=…&tenant=…`` with the CSV as the body; a bad row answers 400
naming its line, and nothing of the file is applied.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request

from bot.ops import Invalid
from bot.ports import Tenant
from bot.sites.admin import MAX_CSV_BYTES, SiteOps, TooLarge, site_json, tenant_of
from handlers.web.admin import sites_files
from handlers.web.admin.api import bp, read_query_params, who
from handlers.web.admin.context import sites


@bp.errorhandler(TooLarge)
def too_large(exc: TooLarge) -> Any:
    return jsonify(error=str(exc)), 413


def _home() -> Tenant:
    return tenant_of(request.args.get("platform"), request.args.get("tenant"))


def _flag(name: str) -> bool:
    value = request.args.get(name, "false")
    if value not in ("true", "false"):
        raise Invalid(f"{name} must be true or false")
    return value == "true"


@bp.get("/sites/tenants")
def site_tenants() -> Any:
    counts = sites().tenants()
    items = [{"platform": t.platform, "tenant": t.tenant, "sites": n} for t, n in sorted(counts.items(), key=str)]
    return jsonify(items=items)


@bp.get("/sites")
def site_list() -> Any:
    return jsonify(items=[site_json(s) for s in sites().list(_home(), request.args.get("zone") or None)])


@bp.get("/sites.csv")
def site_export() -> Response:
    home = _home()
    return Response(
        sites().export_csv(home),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="sites-{home.platform}.csv"'},
    )


@bp.put("/sites.csv")
def site_import() -> Any:
    home = _home()
    replace = _flag("replace")
    if (request.content_length or 0) > MAX_CSV_BYTES:
        raise TooLarge(f"the file is over {MAX_CSV_BYTES // 1024 // 1024} MB")
    data = request.get_data(cache=False)
    return jsonify(SiteOps.applied_json(sites().import_csv(home, data, replace=replace, who=who())))


@bp.get("/sites/tag.png")
def site_tag() -> Response:
    return sites_files.tag(_home(), request.args.get("site", ""))


@bp.get("/sites/tags.pdf")
def site_sheet() -> Response:
    return sites_files.sheet(_home(), request.args)


@bp.record_once
def _query_params(state: Any) -> None:
    """These routes' query parameters, once they are in the app's URL map."""
    read_query_params(state.app)
