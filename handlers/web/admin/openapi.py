"""The OpenAPI 3 description of the admin API, written by hand (served at ``/admin/api/openapi.json``).

A test runs schemathesis against the running API with this document, so a change to a
response shape that is not made here too fails the build.
"""

from __future__ import annotations

from typing import Any

from bot.dialogue.machine import STATES
from bot.moments import OPTIONAL_MOMENT
from bot.ops import TTL_MAX, TTL_MIN
from bot.paging import MAX_PAGE
from bot.ports import ORDER_STATUSES
from bot.session_admin import AUDIT_MAX
from handlers.web.admin.openapi_deliveries import DELIVERY_PATHS
from handlers.web.admin.openapi_reports import REPORT_SCHEMAS, report_paths
from handlers.web.admin.openapi_schemas import LIFE_PATHS, SCHEMAS, errors, json_response, nullable, ref
from handlers.web.admin.openapi_sites import SITE_PATHS

_ERROR_TEXT = {
    400: "a parameter or the body is not acceptable",
    401: "missing or wrong admin token",
    404: "no such session or order (or it has expired)",
    409: "not possible in the current state",
    503: "a backing service (Redis, database) is unavailable; retry shortly",
}


def _session_errors(*codes: int) -> dict[str, Any]:
    """The answers of a route taking a session key or a bare user id: its 404 and 409 may name candidate keys."""
    return {
        **errors(*codes),
        "404": json_response(
            "no such session (or it has expired); for a bare user id, the keys of user ids containing it",
            ref("SessionChoice"),
        ),
        "409": json_response("the bare user id has several live sessions: pick one of the keys", ref("SessionChoice")),
    }


def _page(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["items", "next_cursor"],
        "properties": {
            "items": {"type": "array", "items": item},
            "next_cursor": nullable({"type": "string", "description": "pass as ?cursor= for the next page"}),
        },
    }


_LIMIT = {
    "name": "limit",
    "in": "query",
    "required": False,
    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 50},
}
_CURSOR = {
    "name": "cursor",
    "in": "query",
    "required": False,
    "schema": {"type": "string"},
    "description": "next_cursor from the previous page",
}
EXAMPLE_SESSION_KEY = "wecom:ww1436e0e65a779aee:zhangsan"
EXAMPLE_ORDER_ID = "WO-20260101-ABCDE"
_KEY = {
    "name": "key",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "minLength": 1},
    "description": "session key platform:tenant:user, or a bare user id: the one live session of that user on any "
    "platform and tenant (several: 409 with their keys; none: 404 with the keys of user ids containing it)",
    "example": EXAMPLE_SESSION_KEY,
}
_ORDER_ID = {
    "name": "order_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "minLength": 1},
    "example": EXAMPLE_ORDER_ID,
}

_ORDER_STATUS = {
    "name": "status",
    "in": "query",
    "required": False,
    "description": "empty: any",
    "schema": {"type": "string", "enum": ["", *ORDER_STATUSES]},
}

_SESSION_PATHS: dict[str, Any] = {
    "/sessions": {
        "get": {
            "operationId": "listSessions",
            "summary": "Live sessions, newest activity first",
            "description": "Walks the ops index (never KEYS). A page can be shorter than limit when expired "
            "sessions were skipped; keep following next_cursor until it is null.",
            "parameters": [
                {
                    "name": "state",
                    "in": "query",
                    "required": False,
                    "description": "empty: any",
                    "schema": {"type": "string", "enum": ["", *STATES]},
                },
                {
                    "name": "platform",
                    "in": "query",
                    "required": False,
                    "description": "empty: any",
                    "schema": {"type": "string", "pattern": r"^[A-Za-z0-9_.-]{0,64}$"},
                },
                {
                    "name": "q",
                    "in": "query",
                    "required": False,
                    "description": "part of the user id",
                    "schema": {"type": "string", "maxLength": 128},
                },
                _CURSOR,
                _LIMIT,
            ],
            "responses": {
                "200": json_response("a page of sessions", _page(ref("SessionSummary"))),
                **errors(400, 401, 503),
            },
        }
    },
    "/sessions/{key}": {
        "get": {
            "operationId": "getSession",
            "summary": "Everything about one session",
            "parameters": [_KEY],
            "responses": {"200": json_response("the session", ref("SessionDetail")), **_session_errors(401, 503)},
        },
        "delete": {
            "operationId": "deleteSession",
            "summary": "Forget the session entirely (audited)",
            "parameters": [_KEY],
            "responses": {"200": json_response("deleted", ref("DeleteResult")), **_session_errors(401, 503)},
        },
    },
    "/sessions/{key}/reset": {
        "post": {
            "operationId": "resetSession",
            "summary": "Back to idle, pending cleared, history kept (audited)",
            "parameters": [_KEY],
            "requestBody": {
                "required": False,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "notify": {
                                    "type": "boolean",
                                    "default": False,
                                    "description": "send the user a one-line notice",
                                }
                            },
                        }
                    }
                },
            },
            "responses": {"200": json_response("reset", ref("ResetResult")), **_session_errors(400, 401, 503)},
        }
    },
    "/sessions/{key}/ttl": {
        "put": {
            "operationId": "setSessionTtl",
            "summary": "Set how long the session lives from now (audited)",
            "parameters": [_KEY],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["seconds"],
                            "properties": {"seconds": {"type": "integer", "minimum": TTL_MIN, "maximum": TTL_MAX}},
                        }
                    }
                },
            },
            "responses": {"200": json_response("changed", ref("TtlResult")), **_session_errors(400, 401, 503)},
        }
    },
}

_OTHER_PATHS: dict[str, Any] = {
    "/stats": {
        "get": {
            "operationId": "getStats",
            "summary": "Active sessions by state and platform, orders, turns in the last hour, Redis",
            "responses": {"200": json_response("the numbers", ref("Stats")), **errors(401, 503)},
        }
    },
    "/orders": {
        "get": {
            "operationId": "listOrders",
            "summary": "Work orders, newest first",
            "parameters": [
                _ORDER_STATUS,
                {
                    "name": "q",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string"},
                    "description": "part of the id, user, location or description",
                },
                _CURSOR,
                _LIMIT,
            ],
            "responses": {"200": json_response("a page of orders", _page(ref("Order"))), **errors(400, 401, 503)},
        }
    },
    "/orders/{order_id}": {
        "get": {
            "operationId": "getOrder",
            "summary": "One order with photo links and the conversation that led to it",
            "parameters": [_ORDER_ID],
            "responses": {"200": json_response("the order", ref("OrderDetail")), **errors(401, 404, 503)},
        }
    },
    "/orders/{order_id}/cancel": {
        "post": {
            "operationId": "cancelOrder",
            "summary": "Cancel an open order (audited)",
            "parameters": [_ORDER_ID],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["reason"],
                            "properties": {
                                "reason": {
                                    "type": "string",
                                    "minLength": 1,
                                    "maxLength": 500,
                                    "pattern": r"[^\x00-\x20\x7f]",
                                }
                            },
                        }
                    }
                },
            },
            "responses": {"200": json_response("cancelled", ref("Order")), **errors(400, 401, 404, 409, 503)},
        }
    },
    "/audit": {
        "get": {
            "operationId": "listAudit",
            "summary": f"The audit trail, newest first (about the last {AUDIT_MAX} changes are kept)",
            "parameters": [
                {
                    "name": "cursor",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "pattern": r"^(\d{1,20}-\d{1,20})?$"},
                    "description": "next_cursor of the previous page; empty: the newest",
                },
                _LIMIT,
            ],
            "responses": {
                "200": json_response("a page of entries", _page(ref("AuditEntry"))),
                **errors(400, 401, 503),
            },
        }
    },
}


_ORDER_PATHS: dict[str, Any] = {
    "/orders.csv": {
        "get": {
            "operationId": "exportOrders",
            "summary": "Every matching order as CSV (UTF-8 with BOM, for Excel), oldest first, streamed",
            "parameters": [
                _ORDER_STATUS,
                {
                    "name": "from",
                    "in": "query",
                    "required": False,
                    "description": "created at or after (ISO 8601 date or time; a time without zone is in TIMEZONE)",
                    "schema": {"type": "string", "pattern": OPTIONAL_MOMENT},
                },
                {
                    "name": "to",
                    "in": "query",
                    "required": False,
                    "description": "created before (a date alone: up to the end of that day)",
                    "schema": {"type": "string", "pattern": OPTIONAL_MOMENT},
                },
                {"name": "tenant", "in": "query", "required": False, "schema": {"type": "string"}},
                {
                    "name": "site",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string"},
                    "description": "a site id",
                },
                {"name": "zone", "in": "query", "required": False, "schema": {"type": "string"}},
            ],
            "responses": {
                "200": {"description": "the CSV", "content": {"text/csv": {"schema": {"type": "string"}}}},
                **errors(400, 401, 503),
            },
        }
    },
}


def document() -> dict[str, Any]:
    """A fresh copy of the document (callers may change it)."""
    import copy

    responses = {f"E{code}": json_response(text, ref("Error")) for code, text in _ERROR_TEXT.items()}
    return copy.deepcopy(
        {
            "openapi": "3.0.3",
            "info": {
                "title": "wobot admin API",
                "version": "1",
                "description": "Ops API of the field-operations bot. Off unless ADMIN_TOKEN is set (then every path "
                "answers 404). Every change is recorded in the audit trail with the token's name.",
            },
            "servers": [{"url": "/admin/api"}],
            "security": [{"bearer": []}],
            "paths": {
                **_SESSION_PATHS,
                **_OTHER_PATHS,
                **_ORDER_PATHS,
                **DELIVERY_PATHS,
                **SITE_PATHS,
                **LIFE_PATHS,
                **report_paths(errors(400, 401, 503)),
            },
            "components": {
                "securitySchemes": {
                    "bearer": {
                        "type": "http",
                        "scheme": "bearer",
                        "description": "ADMIN_TOKEN (or the secret of one name:secret pair)",
                    }
                },
                "schemas": {**SCHEMAS, **REPORT_SCHEMAS},
                "responses": responses,
            },
        }
    )
