"""Reports at the admin edge: one ``Reports`` per app, a request's report, and the report as CSV.

The figures are made in ``bot.reports``; the API (``GET /admin/api/reports``), its CSV and the page show that one
result. A parameter that cannot be used is an ``Invalid`` (400) naming it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from flask import Response, current_app

from bot.adapters.sql.reports import SqlReportFacts
from bot.ops import Invalid
from bot.reports.figures import Filters, Period
from bot.reports.service import BadParameter, Reports
from handlers.web.admin.context import ops
from handlers.web.admin.export import BOM, cell


def reports() -> Reports:
    """The app's reports over its order database (made on first use), on the admin's clock."""
    made: Reports | None = current_app.extensions.get("wobot_reports")
    if made is None:
        engine = getattr(ops().orders, "engine", None)
        if engine is None:
            raise Invalid("reports need the SQL order database")
        made = Reports(ops().settings, SqlReportFacts(engine), clock=lambda: datetime.fromtimestamp(ops().clock(), UTC))
        current_app.extensions["wobot_reports"] = made
    return made


def requested(args: Mapping[str, str]) -> tuple[Period, Filters, dict[str, Any]]:
    """The period and filters a request names, and their report; Invalid (400) naming a bad parameter."""
    try:
        period, filters = reports().parse(args)
    except BadParameter as exc:
        raise Invalid(str(exc)) from None
    return period, filters, reports().report(period, filters)


def rows(report: dict[str, Any]) -> Iterator[list[Any]]:
    """The report as ``table, key, measure, value`` rows: every table of the JSON, one number a row."""
    yield ["table", "key", "measure", "value"]
    for name, value in report["period"].items():
        yield ["period", "", name, value]
    for name, value in report["filters"].items():
        yield ["filters", "", name, cell(value)]
    for name, value in report["summary"].items():
        if isinstance(value, dict):
            for part, number in value.items():
                yield ["summary", "", f"{name}.{part}", cell(number)]
        else:
            yield ["summary", "", name, value]
    for day in report["per_day"]:
        for name, value in day.items():
            if name == "day":
                continue
            parts = value.items() if isinstance(value, dict) else [("", value)]
            for part, number in parts:
                yield ["per_day", day["day"], f"{name}.{part}" if part else name, cell(number)]
    for table in ("by_age", "by_stage"):
        for key, count in report["backlog"][table].items():
            yield [f"backlog_{table}", key, "orders", count]
    for table in ("by_type", "by_site", "by_zone"):
        for row in report[table]:
            yield [table, cell(row["name"]), "orders", row["orders"]]
    for person in report["by_assignee"]:
        for name, value in person.items():
            if name != "assignee":
                yield ["by_assignee", cell(person["assignee"]), name, cell(value)]
    yield ["breaching_now", "", "count", report["breaching_now"]["count"]]
    for order in report["breaching_now"]["orders"]:
        for name, value in order.items():
            if name != "id":
                yield ["breaching_now", order["id"], name, cell(value)]


def csv_response(report: dict[str, Any]) -> Response:
    buffer = io.StringIO()
    buffer.write(BOM)
    csv.writer(buffer, lineterminator="\r\n").writerows(rows(report))
    period = report["period"]
    name = f"report-{period['from']}-{period['to']}.csv"
    return Response(
        buffer.getvalue(),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
