"""The OpenAPI description of ``GET /admin/api/reports`` and its shapes (``bot.reports.compute`` makes them)."""

from __future__ import annotations

from typing import Any

from bot.moments import OPTIONAL_MOMENT
from bot.reports.figures import AGE_BUCKETS, BACKLOG_STAGES
from bot.reports.service import FILTERS
from handlers.web.admin.openapi_schemas import ref

STR = {"type": "string"}
INT = {"type": "integer"}
SECONDS = {"type": "integer", "nullable": True, "description": "whole seconds; null of nothing"}


def _object(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {"type": "object", "required": required or list(properties), "properties": properties}


_DATE = {"type": "string", "format": "date"}
_DAY_PARAMETER = {"type": "string", "pattern": OPTIONAL_MOMENT, "description": "a date (a time's date counts)"}
_FILTER_TEXT = {
    "tenant": "the reporter's tenant (WeCom corp, Feishu tenant, Slack team)",
    "platform": "the reporter's platform",
    "site": "a site's id or name",
    "zone": "a zone",
    "type": "an alarm type",
    "severity": "high, medium or low (empty: any)",
    "assignee": "the assignee's user id",
}
_SUMMARY_SHARES = (
    "claim_sla_breached",
    "resolve_sla_breached",
    "reopen_rate",
    "first_time_fix_rate",
    "auto_confirmed_share",
    "vlm_fixed_then_reopened",
)
_NAMED = _object({"name": STR, "orders": INT})

REPORT_SCHEMAS: dict[str, Any] = {
    "Spread": _object({"count": INT, "median": SECONDS, "p90": SECONDS}),
    "Share": _object({"count": INT, "of": INT, "share": {"type": "number", "nullable": True}}),
    "Report": _object(
        {
            "period": _object(
                {"from": _DATE, "to": _DATE, "timezone": STR, "start": STR, "end": STR},
            ),
            "filters": {"type": "object", "additionalProperties": STR},
            "generated_at": STR,
            "summary": _object(
                {
                    **{name: INT for name in ("created", "claimed", "resolved", "closed", "vlm_refusals", "backlog")},
                    "time_to_claim": ref("Spread"),
                    "time_to_fix": ref("Spread"),
                    **{name: ref("Share") for name in _SUMMARY_SHARES},
                }
            ),
            "per_day": {
                "type": "array",
                "items": _object(
                    {
                        "day": _DATE,
                        "created": INT,
                        "resolved": INT,
                        "closed": INT,
                        "time_to_claim": ref("Spread"),
                        "time_to_fix": ref("Spread"),
                    }
                ),
            },
            "breaching_now": _object(
                {
                    "count": INT,
                    "orders": {
                        "type": "array",
                        "items": _object(
                            {
                                "id": STR,
                                "breach": {"type": "string", "enum": ["claim", "resolve"]},
                                "over_seconds": INT,
                                "severity": STR,
                                "type": STR,
                                "site": STR,
                                "zone": STR,
                                "stage": STR,
                                "assignee": STR,
                                "created_at": STR,
                            }
                        ),
                    },
                }
            ),
            "backlog": _object(
                {
                    "by_age": _object({name: INT for name, _ in AGE_BUCKETS}),
                    "by_stage": _object({name: INT for name in BACKLOG_STAGES}),
                }
            ),
            "by_type": {"type": "array", "items": _NAMED},
            "by_site": {"type": "array", "items": _NAMED},
            "by_zone": {"type": "array", "items": _NAMED},
            "by_assignee": {
                "type": "array",
                "items": _object(
                    {"assignee": STR, "claimed": INT, "resolved": INT, "time_to_fix_median": SECONDS, "reopened": INT}
                ),
            },
        }
    ),
}


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


def _filter_schema(name: str) -> dict[str, Any]:
    if name == "severity":
        return {"type": "string", "enum": ["", "high", "medium", "low"]}  # empty: any (the page's select)
    return {"type": "string", "maxLength": 200, "pattern": "^[^\\x00-\\x1f]*$"}


def report_paths(errors: dict[str, Any]) -> dict[str, Any]:
    return {
        "/reports": {
            "get": {
                "operationId": "report",
                "summary": "Time to claim and fix, SLA breaches, reopens, backlog, volume by day, type, site and "
                "person (definitions: docs/reports.md); an unknown site or person is an empty report",
                "parameters": [
                    _query("from", "first local day (TIMEZONE), included; default 6 days before to", _DAY_PARAMETER),
                    _query(
                        "to", "last local day, included; default today; at most 366 days after from", _DAY_PARAMETER
                    ),
                    *(_query(name, _FILTER_TEXT[name], _filter_schema(name)) for name in FILTERS),
                    _query(
                        "format",
                        "json (default) or csv: table, key, measure, value rows",
                        {
                            "type": "string",
                            "enum": ["json", "csv"],
                        },
                    ),
                ],
                "responses": {
                    "200": {
                        "description": "the report",
                        "content": {
                            "application/json": {"schema": ref("Report")},
                            "text/csv": {"schema": STR},
                        },
                    },
                    **errors,
                },
            }
        }
    }
