"""A site's QR tag (PNG) and a sheet of tags (PDF) as the admin API and the ops page both answer them: inline,
with a file name to save them by."""

from __future__ import annotations

from collections.abc import Mapping

from flask import Response

from bot.ops import Invalid
from bot.ports import Tenant
from handlers.web.admin.context import sites


def tag(home: Tenant, site_id: str) -> Response:
    png = sites().tag(home, site_id)
    return Response(png, content_type="image/png", headers={"Content-Disposition": inline(f"tag-{site_id}.png")})


def sheet(home: Tenant, args: Mapping[str, str]) -> Response:
    """``zone`` and ``part`` from the query: a sheet holds at most ``SHEET_MAX_SITES`` tags (``SiteOps.sheet``)."""
    part = _part(args.get("part"))
    pdf = sites().sheet(home, args.get("zone") or None, part)
    name = "tags.pdf" if part is None else f"tags-{part}.pdf"
    return Response(pdf, content_type="application/pdf", headers={"Content-Disposition": inline(name)})


def _part(raw: str | None) -> int | None:
    if raw is None:
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 6 or int(raw) < 1:
        raise Invalid("part must be a whole number from 1")
    return int(raw)


def inline(name: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return f'inline; filename="{safe}"'
