"""``GET /admin/api/orders.csv``: orders as a spreadsheet, streamed row by row.

UTF-8 with a byte-order mark, so Excel opens Chinese text correctly; times in ``TIMEZONE`` (named in
the header); a cell a person typed that starts like a formula (``=``, ``+``, ``-``, ``@``) is
prefixed with ``'`` so a spreadsheet shows it instead of running it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Response, stream_with_context

from bot.moments import is_moment
from bot.ops import Invalid
from bot.ports import Order, Reporter
from handlers.web.admin import times
from handlers.web.admin.context import ops

BOM = "\ufeff"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_FLUSH_ROWS = 200


def bound(raw: str | None, zone: ZoneInfo, *, end: bool) -> datetime | None:
    """``from``/``to`` as a moment: a date is the start of that day (for ``to``: of the next), a time
    without a zone is in ``zone``. ``Invalid`` (400) for anything else."""
    if not raw:
        return None
    if not is_moment(raw):
        raise Invalid(f"{'to' if end else 'from'} must be an ISO 8601 date or time, not {raw[:40]!r}")
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            return datetime.combine(day + timedelta(days=1 if end else 0), time(), zone)
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise Invalid(f"{'to' if end else 'from'} must be an ISO 8601 date or time, not {raw[:40]!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def header(zone: ZoneInfo) -> list[str]:
    z = zone.key
    return [
        "id",
        "status",
        "alarm_type",
        "severity",
        "description",
        "location",
        "latitude",
        "longitude",
        "reporter",
        "also_reported_by",
        "assignee",
        f"created_at ({z})",
        f"claimed_at ({z})",
        f"closed_at ({z})",
        "escalations",
        "closed_by",
        "cancel_reason",
        "vlm_resolved",
        "vlm_reason",
        "photos",
        "platform",
        "tenant",
        "site_id",
        "site_name",
        "zone",
    ]


def cell(value: Any) -> Any:
    """A CSV cell a spreadsheet will not run: text starting like a formula gets a leading ``'``; None is empty."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return f"'{value}"
    return "" if value is None else value


def _who(person: Reporter | None) -> str:
    return cell(person.user) if person else ""


def _when(moment: datetime | None, zone: ZoneInfo) -> str:
    return times.local(moment, zone) or ""


def row(order: Order, zone: ZoneInfo) -> list[str | int | float | None]:
    return [
        order.id,
        order.status,
        cell(order.alarm_type),
        order.severity,
        cell(order.description),
        cell(order.location_text),
        order.latitude,
        order.longitude,
        _who(order.reporter),
        "; ".join(_who(r) for r in order.more_reporters),
        _who(order.assignee),
        _when(order.created_at, zone),
        _when(order.claimed_at, zone),
        _when(order.closed_at, zone),
        order.escalations,
        _who(order.closed_by),
        cell(order.cancel_reason),
        "" if order.vlm_resolved is None else str(order.vlm_resolved).lower(),
        cell(order.vlm_reason),
        len(order.photo_keys),
        order.reporter.platform,
        cell(order.reporter.tenant),
        order.site.id if order.site else "",
        cell(order.site.name) if order.site else "",
        cell(order.site.zone) if order.site else "",
    ]


def response(args: Mapping[str, str]) -> Response:
    """The export for a request's ``status``, ``from``, ``to``, ``tenant``, ``site`` and ``zone`` (API and page
    alike)."""
    zone = ops().settings.zone
    try:
        rows = ops().orders.export(
            status=args.get("status") or None,
            since=bound(args.get("from"), zone, end=False),
            until=bound(args.get("to"), zone, end=True),
            tenant=args.get("tenant") or None,
            site=args.get("site") or None,
            zone=args.get("zone") or None,
        )
    except ValueError as exc:  # an unknown status, said before the first byte
        raise Invalid(str(exc)) from None
    name = f"orders-{datetime.now(zone):%Y%m%d-%H%M}.csv"
    return Response(
        stream_with_context(csv_chunks(rows, zone)),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def csv_chunks(orders: Iterable[Order], zone: ZoneInfo) -> Iterator[str]:
    """The CSV in pieces of a few hundred rows: never the whole export in memory."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write(BOM)
    writer.writerow(header(zone))
    for n, order in enumerate(orders, 1):
        writer.writerow(row(order, zone))
        if n % _FLUSH_ROWS == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
