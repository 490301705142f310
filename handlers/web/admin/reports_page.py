"""The Reports page (``/admin/reports``): the figures of ``bot.reports`` at a glance — cards, charts drawn on the
server (``charts.py``), the per-person table and the orders breaching now — and its CSV download.

Routes on the page's blueprint (signed-in cookie, CSP with a nonce): imported before the blueprint is registered.
"""

from __future__ import annotations

from typing import Any

from flask import Response, g, request
from markupsafe import Markup

from bot.reports.service import FILTERS
from handlers.web.admin import reports
from handlers.web.admin.page import bp, page


def _span(seconds: int | None) -> str:
    """A duration read at a glance: 45 s, 20 min, 2 h 40 min, 3 d 4 h."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def _percent(share: dict[str, Any]) -> str:
    return "—" if share["share"] is None else f"{share['share'] * 100:.0f}%"


@bp.get("/reports")
def report_page() -> Any:
    from handlers import charts  # pygal: loaded when a report is first drawn, not by every process at start

    period, filters, figures = reports.requested(request.args)
    drawn = charts.page_charts(figures, g.csp_nonce)
    return page(
        "reports.html",
        r=figures,
        period=period,
        filters=filters.as_dict(),
        filter_names=[name for name in FILTERS if name != "severity"],
        charts={name: Markup(svg) for name, svg in drawn.items()},  # noqa: S704 - pygal's SVG, our labels escaped
        hours=_span,
        percent=_percent,
        query=request.query_string.decode(),
    )


@bp.get("/reports.csv")
def report_csv() -> Response:
    _, _, figures = reports.requested(request.args)
    return reports.csv_response(figures)
