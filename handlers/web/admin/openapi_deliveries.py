"""The order events' deliveries in the OpenAPI document (``openapi.document`` merges ``DELIVERY_PATHS``)."""

from __future__ import annotations

from typing import Any

from handlers.web.admin.openapi_schemas import errors, json_response, ref

DELIVERY_PATHS: dict[str, Any] = {
    "/deliveries": {
        "get": {
            "operationId": "listDeliveries",
            "summary": "Order events that could not be delivered (duty chat or ORDER_WEBHOOK_URL), newest first",
            "parameters": [
                {
                    "name": "status",
                    "in": "query",
                    "required": False,
                    "description": "only failed deliveries are kept",
                    "schema": {"type": "string", "enum": ["failed"]},
                }
            ],
            "responses": {
                "200": json_response(
                    "the failed deliveries",
                    {
                        "type": "object",
                        "required": ["items", "waiting"],
                        "properties": {
                            "items": {"type": "array", "items": ref("Delivery")},
                            "waiting": {
                                "type": "object",
                                "additionalProperties": {"type": "integer"},
                                "description": "orders with events still on their way, per sink",
                            },
                        },
                    },
                ),
                **errors(400, 401, 503),
            },
        }
    },
    "/deliveries/{event_id}/retry": {
        "post": {
            "operationId": "retryDelivery",
            "summary": "Deliver a failed event again, before its order's later events (audited)",
            "parameters": [
                {"name": "event_id", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
            ],
            "responses": {"200": json_response("queued again", ref("Delivery")), **errors(401, 404, 503)},
        }
    },
}
