"""The site registry's part of the OpenAPI document (``openapi.document`` merges ``SITE_PATHS``)."""

from __future__ import annotations

from typing import Any

from bot.sites.csv_io import COLUMNS
from bot.sites.model import MAX_NAME_CHARS

_ERRORS = {str(code): {"$ref": f"#/components/responses/E{code}"} for code in (400, 401, 503)}
_NOT_FOUND = {"404": {"$ref": "#/components/responses/E404"}}
_PLATFORM = {
    "name": "platform",
    "in": "query",
    "required": True,
    "schema": {"type": "string", "pattern": r"^[A-Za-z0-9_.-]{1,32}$"},
    "description": "the tenant's platform: wecom, feishu, slack, …",
}
_TENANT = {
    "name": "tenant",
    "in": "query",
    "required": True,
    "schema": {"type": "string", "pattern": r"^[A-Za-z0-9_.@-]{1,128}$"},
    "description": "the WeCom corp id, Feishu tenant key or Slack team id",
}
_ZONE = {
    "name": "zone",
    "in": "query",
    "required": False,
    "schema": {"type": "string"},
    "description": "only this zone",
}
_PART = {
    "name": "part",
    "in": "query",
    "required": False,
    "schema": {"type": "integer", "minimum": 1},
    "description": "one PDF holds at most 240 tags (20 pages): part N is sites 240 × (N−1) + 1 … 240 × N of the"
    " list's order; required (and named by the 400) when there are more than 240 sites",
}
_NULL_NUMBER = {"type": "number", "nullable": True}
_NULL_TEXT = {"type": "string", "nullable": True}
SITE = {
    "type": "object",
    "required": ["id", "name", "aliases", "latitude", "longitude", "datum", "zone", "parent"],
    "properties": {
        "id": {"type": "string", "example": "B3-E"},
        "name": {"type": "string", "maxLength": MAX_NAME_CHARS, "example": "3号楼东门"},
        "aliases": {"type": "array", "items": {"type": "string"}},
        "latitude": _NULL_NUMBER,
        "longitude": _NULL_NUMBER,
        "datum": {"type": "string", "enum": ["wgs84", "gcj02"], "nullable": True},
        "zone": _NULL_TEXT,
        "parent": _NULL_TEXT,
    },
}
_LIST = {"type": "array", "items": SITE}
_CSV = {"text/csv": {"schema": {"type": "string"}}}


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


SITE_PATHS: dict[str, Any] = {
    "/sites/tenants": {
        "get": {
            "operationId": "listSiteTenants",
            "summary": "The tenants that have a site registry, with how many sites each",
            "responses": {
                "200": _json(
                    "tenants",
                    {
                        "type": "object",
                        "required": ["items"],
                        "properties": {
                            "items": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": ["platform", "tenant", "sites"],
                                    "properties": {
                                        "platform": {"type": "string"},
                                        "tenant": {"type": "string"},
                                        "sites": {"type": "integer"},
                                    },
                                },
                            }
                        },
                    },
                ),
                **_ERRORS,
            },
        }
    },
    "/sites": {
        "get": {
            "operationId": "listSites",
            "summary": "A tenant's sites, by id (empty for a tenant without a registry)",
            "parameters": [_PLATFORM, _TENANT, _ZONE],
            "responses": {
                "200": _json(
                    "the sites",
                    {
                        "type": "object",
                        "required": ["items"],
                        "properties": {"items": {"type": "array", "items": SITE}},
                    },
                ),
                **_ERRORS,
            },
        }
    },
    "/sites.csv": {
        "get": {
            "operationId": "exportSites",
            "summary": f"A tenant's registry as CSV (UTF-8 with BOM; columns {', '.join(COLUMNS)}; aliases split by |)",
            "parameters": [_PLATFORM, _TENANT],
            "responses": {"200": {"description": "the CSV", "content": _CSV}, **_ERRORS},
        },
        "put": {
            "operationId": "importSites",
            "summary": "Import a CSV (the export's shape; id and name required) in one transaction (audited)",
            "description": "Each row adds a site or updates the one with its id; with replace=true the tenant's "
            'sites not in the file are removed. A bad row answers 400 naming its line ("line 4: …") and nothing '
            "of the file is applied. Over 2 MB: 413.",
            "parameters": [
                _PLATFORM,
                _TENANT,
                {
                    "name": "replace",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "enum": ["true", "false"], "default": "false"},
                },
            ],
            "requestBody": {"required": True, "content": _CSV},
            "responses": {
                "200": _json(
                    "what changed",
                    {
                        "type": "object",
                        "required": ["added", "updated", "removed", "total"],
                        "properties": {name: {"type": "integer"} for name in ("added", "updated", "removed", "total")},
                    },
                ),
                "413": _json("the file is over 2 MB", {"$ref": "#/components/schemas/Error"}),
                **_ERRORS,
            },
        },
    },
    "/sites/tag.png": {
        "get": {
            "operationId": "siteTag",
            "summary": "A site's printable QR tag (PNG): the code holds WOBOT:<tenant>:<site id>, the name is under it",
            "parameters": [
                _PLATFORM,
                _TENANT,
                {"name": "site", "in": "query", "required": True, "schema": {"type": "string"}, "description": "id"},
            ],
            "responses": {
                "200": {"description": "the tag", "content": {"image/png": {"schema": {"type": "string"}}}},
                **_ERRORS,
                **_NOT_FOUND,
            },
        }
    },
    "/sites/tags.pdf": {
        "get": {
            "operationId": "siteTagSheet",
            "summary": "A4 sheets of the tenant's (or one zone's) tags, 12 a page, at most 240 a PDF (by part)",
            "parameters": [_PLATFORM, _TENANT, _ZONE, _PART],
            "responses": {
                "200": {"description": "the sheets", "content": {"application/pdf": {"schema": {"type": "string"}}}},
                **_ERRORS,
                **_NOT_FOUND,
            },
        }
    },
}
