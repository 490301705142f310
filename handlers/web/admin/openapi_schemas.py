"""The admin API's component schemas (the shapes ``handlers/web/admin/views.py`` returns), for ``openapi.py``."""

from __future__ import annotations

from typing import Any

from bot.dialogue.machine import STATES
from bot.ops import TTL_MAX, TTL_MIN
from bot.orders.life import LIFE_STATUSES
from bot.orders.ops_moves import PLAIN_ACTIONS
from bot.ports import ORDER_STATUSES


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def json_response(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def errors(*codes: int) -> dict[str, Any]:
    """The shared error answers (``components.responses``) a path may give."""
    return {str(c): {"$ref": f"#/components/responses/E{c}"} for c in codes}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "nullable": True}


STR = {"type": "string"}
INT = {"type": "integer"}
TIME = {"type": "string", "description": "ISO 8601, UTC"}


SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error"], "properties": {"error": STR}},
    "SessionChoice": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": STR,
            "candidates": {"type": "array", "items": STR, "description": "session keys to choose from"},
        },
    },
    "SessionSummary": {
        "type": "object",
        "required": [
            "key",
            "platform",
            "tenant",
            "user",
            "state",
            "waiting_for",
            "next_steps",
            "pending",
            "last_activity",
            "seconds_left",
            "turns",
        ],
        "properties": {
            "key": STR,
            "platform": STR,
            "tenant": STR,
            "user": STR,
            "chat": {"type": "string", "description": 'the group chat of a group session ("" in a direct chat)'},
            "state": {"type": "string", "enum": list(STATES)},
            "waiting_for": nullable(
                {"type": "string", "description": "what the bot accepts next, in words (from next_steps)"}
            ),
            "next_steps": {
                "type": "array",
                "items": {"type": "string", "enum": ["location", "alarm_type", "confirm", "close_photo", "photo"]},
                "description": "the inputs, in order, that finish the open flow, read off the state machine; "
                "empty in idle",
            },
            "pending": {
                "type": "object",
                "additionalProperties": True,
                "description": "alarm_type, order_id, alarm_id, location, photo",
            },
            "last_activity": nullable(TIME),
            "seconds_left": nullable({"type": "integer", "minimum": 0}),
            "turns": INT,
        },
    },
    "HistoryEntry": {
        "type": "object",
        "required": ["role"],
        "properties": {
            "role": {"type": "string", "enum": ["user", "bot"]},
            "text": STR,
            "at": nullable(TIME),
            "kind": STR,
            "image_key": STR,
            "image_url": nullable({"type": "string", "description": "short-lived link to the photo"}),
            "location": STR,
        },
    },
    "SessionDetail": {
        "allOf": [
            ref("SessionSummary"),
            {
                "type": "object",
                "required": ["history", "created_at", "pending_view"],
                "properties": {
                    "pending": {
                        "type": "object",
                        "additionalProperties": True,
                        "description": "every pending field as stored; image_url links the pending photo",
                    },
                    "pending_view": ref("PendingView"),
                    "history": {"type": "array", "items": ref("HistoryEntry")},
                    "created_at": nullable(TIME),
                },
            },
        ]
    },
    "PendingView": {
        "type": "object",
        "description": "the pending fields a person needs; each is present only when it is set",
        "properties": {
            "photo": ref("Photo"),
            "more_photos": {"type": "array", "items": ref("Photo"), "description": "the report's other photos"},
            "alarm_type": {"type": "string", "description": 'the type, or "not chosen yet (why)"'},
            "severity": STR,
            "description": STR,
            "order_id": STR,
            "alarm_id": STR,
            "location": {
                "type": "object",
                "required": ["text", "map_url"],
                "properties": {"text": STR, "map_url": nullable({"type": "string", "format": "uri"})},
            },
        },
    },
    "ResetResult": {
        "type": "object",
        "required": ["key", "state", "previous_state", "notified"],
        "properties": {
            "key": STR,
            "state": {"type": "string", "enum": ["idle"]},
            "previous_state": {"type": "string", "enum": list(STATES)},
            "notified": {"type": "boolean", "description": "false when the platform has no push channel or failed"},
        },
    },
    "DeleteResult": {
        "type": "object",
        "required": ["key", "deleted"],
        "properties": {"key": STR, "deleted": {"type": "boolean"}},
    },
    "TtlResult": {
        "type": "object",
        "required": ["key", "seconds_left"],
        "properties": {"key": STR, "seconds_left": {"type": "integer", "minimum": TTL_MIN, "maximum": TTL_MAX}},
    },
    "Counts": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}},
    "Stats": {
        "type": "object",
        "required": ["sessions", "orders", "turns_last_hour", "redis", "problems", "took_ms"],
        "properties": {
            "sessions": {
                "type": "object",
                "required": ["active", "by_state", "by_platform", "window_seconds"],
                "properties": {
                    "active": {"type": "integer", "minimum": 0},
                    "by_state": ref("Counts"),
                    "by_platform": ref("Counts"),
                    "window_seconds": INT,
                },
            },
            "orders": nullable(
                {
                    "type": "object",
                    "additionalProperties": {"type": "integer"},
                    "description": "open / closed / cancelled; null if the database is down",
                }
            ),
            "turns_last_hour": {"type": "integer", "minimum": 0},
            "redis": {
                "type": "object",
                "required": ["version", "used_memory", "used_memory_human"],
                "properties": {
                    "version": nullable(STR),
                    "used_memory": nullable(INT),
                    "used_memory_human": nullable(STR),
                    "masters": {
                        "type": "integer",
                        "minimum": 1,
                        "description": "Redis Cluster only: the memory is summed over this many masters",
                    },
                },
            },
            "problems": {"type": "array", "items": STR},
            "took_ms": {"type": "number"},
        },
    },
    "Person": {
        "description": 'Who closed or cancelled an order; platform "ops" with the admin\'s name for an ops cancel.',
        "type": "object",
        "required": ["platform", "tenant", "user"],
        "properties": {"platform": STR, "tenant": STR, "user": STR},
    },
    "Photo": {"type": "object", "required": ["key", "url"], "properties": {"key": STR, "url": nullable(STR)}},
    "Order": {
        "type": "object",
        "required": [
            "id",
            "status",
            "alarm_type",
            "description",
            "severity",
            "location",
            "reporter",
            "created_at",
            "report_photo",
            "close_photo",
        ],
        "properties": {
            "id": STR,
            "status": {"type": "string", "enum": list(ORDER_STATUSES)},
            "alarm_type": STR,
            "description": STR,
            "note": nullable({"type": "string", "description": "the reporter's own words (a voice note's, 很急…)"}),
            "severity": STR,
            "location": STR,
            "latitude": nullable({"type": "number"}),
            "longitude": nullable({"type": "number"}),
            "site": nullable(
                {
                    "type": "object",
                    "description": "the registry site the place landed on (docs/sites.md)",
                    "required": ["id", "name", "zone"],
                    "properties": {"id": STR, "name": STR, "zone": STR},
                }
            ),
            "place_source": nullable(
                {"type": "string", "description": "how the place was found: typed, matched, qr, snapped, shared"}
            ),
            "reporter": {
                "type": "object",
                "required": ["platform", "tenant", "user", "session_key"],
                "properties": {"platform": STR, "tenant": STR, "user": STR, "session_key": STR},
            },
            "alarm_id": nullable(STR),
            "created_at": TIME,
            "closed_at": nullable(TIME),
            "vlm_resolved": nullable({"type": "boolean"}),
            "vlm_reason": nullable(STR),
            "cancel_reason": nullable(STR),
            "closed_by": nullable(ref("Person")),
            "cancelled_by": nullable(ref("Person")),
            "report_photo": nullable(ref("Photo")),
            "more_report_photos": {"type": "array", "items": ref("Photo"), "description": "photos 2… of the report"},
            "close_photo": nullable(ref("Photo")),
            "voice_notes": {"type": "array", "items": ref("Photo"), "description": "the report's voice notes (audio)"},
            "assignee": nullable(ref("Person")),
            "claimed_at": nullable(TIME),
            "escalations": {"type": "integer", "minimum": 0, "description": "times posted again as overdue"},
            "more_reporters": {"type": "array", "items": ref("Person"), "description": "who reported it again"},
            "life": {"type": "string", "enum": list(LIFE_STATUSES), "description": "where it is (docs/orders.md)"},
            "hold_reason": nullable(STR),
            "held_seconds": {"type": "number", "minimum": 0},
            "resolved_at": nullable(TIME),
            "auto_confirmed": {"type": "boolean"},
            "reopen_count": {"type": "integer", "minimum": 0},
            "rating": nullable({"type": "integer", "minimum": 1, "maximum": 5}),
        },
    },
    "TimelineEntry": {
        "description": "One move of the order (or a note): who, when, from which life status to which, why.",
        "type": "object",
        "required": ["at", "kind", "from", "to", "actor", "reason", "detail", "photo"],
        "properties": {
            "at": TIME,
            "kind": {"type": "string", "description": "created, claimed, started, on_hold, resumed, handed_over, …"},
            "from": nullable({"type": "string", "enum": list(LIFE_STATUSES)}),
            "to": nullable({"type": "string", "enum": list(LIFE_STATUSES)}),
            "actor": nullable(ref("Person")),
            "reason": nullable(STR),
            "detail": {"type": "object", "description": "text, photo_key, voice_key, to / from (a hand-over), rating…"},
            "photo": nullable(ref("Photo")),
            "voice": nullable(ref("Photo")),
        },
    },
    "Delivery": {
        "description": "An order event given up: after 24 h of failures, or refused for good (4xx).",
        "type": "object",
        "required": ["sink", "event", "attempts"],
        "properties": {
            "sink": {"type": "string", "enum": ["duty", "webhook"]},
            "event": {
                "type": "object",
                "required": ["id", "type", "occurred_at", "order"],
                "properties": {"id": STR, "type": STR, "occurred_at": STR, "order": {"type": "object"}},
            },
            "attempts": {"type": "integer", "minimum": 0},
            "first_at": {"type": "number"},
            "failed_at": {"type": "number"},
            "last_error": STR,
        },
    },
    "OrderDetail": {
        "allOf": [
            ref("Order"),
            {
                "type": "object",
                "required": ["history", "timeline"],
                "properties": {
                    "history": {"type": "array", "items": ref("HistoryEntry")},
                    "timeline": {"type": "array", "items": ref("TimelineEntry"), "description": "oldest first"},
                },
            },
        ]
    },
    "AuditEntry": {
        "type": "object",
        "required": ["id", "who", "at", "action", "target", "before", "after"],
        "properties": {
            "id": {"type": "string", "pattern": r"^\d+-\d+$"},
            "who": {"type": "string", "description": 'token name, or "cli"'},
            "at": TIME,
            "action": {
                "type": "string",
                "enum": [
                    "session.reset",
                    "session.delete",
                    "session.ttl",
                    "order.cancel",
                    "order.move",
                    "delivery.retry",
                ],
            },
            "target": {"type": "string", "description": "session key or order id"},
            "before": {"nullable": True, "description": "state before the change"},
            "after": {"nullable": True, "description": "state after the change (null after a delete)"},
        },
    },
}


# The order's life, moved by ops (bot.orders.ops_moves); its answers as the other order routes'.
_VISIBLE_TEXT = {"type": "string", "minLength": 1, "maxLength": 500, "pattern": r"[^\x00-\x20\x7f]"}
_SOMEONE = {
    "type": "object",
    "required": ["platform", "user"],
    "properties": {"platform": _VISIBLE_TEXT, "tenant": STR, "user": _VISIBLE_TEXT},
    "description": "the person the order is handed to, of the order's own platform and tenant (else 400; "
    "no tenant: the order's)",
}


def _move(actions: tuple[str, ...], required: list[str] | None = None, **properties: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["action", *(required or [])],
        "properties": {"action": {"type": "string", "enum": list(actions)}, **properties},
    }


LIFE_PATHS: dict[str, Any] = {
    "/orders/{order_id}/move": {
        "post": {
            "operationId": "moveOrder",
            "summary": "Move an order through its life as ops (any move its status allows; audited; docs/orders.md)",
            "parameters": [
                {"name": "order_id", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "oneOf": [
                                _move(PLAIN_ACTIONS, reason=_VISIBLE_TEXT),
                                _move(("hand_over",), ["to"], to=_SOMEONE),
                                _move(("note",), ["text"], text=_VISIBLE_TEXT),
                                _move(("cancel",), ["reason"], reason=_VISIBLE_TEXT),
                            ]
                        }
                    }
                },
            },
            "responses": {
                "200": json_response("moved", ref("Order")),
                **errors(400, 401, 404, 409, 503),
            },
        }
    },
}
