"""The ops JSON API under ``/admin/api`` (registered only when ``ADMIN_TOKEN`` is set).

Every route needs ``Authorization: Bearer <token>``; the OpenAPI document at
``/admin/api/openapi.json`` is open and names every route's query parameters, which the
API holds requests to. The operations live in ``bot.ops``; this module translates.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from bot.ops import Ambiguous, Conflict, Invalid, NotFound, UnknownUser
from bot.orders.ops_moves import ops_move
from bot.ports import ServiceError
from handlers.platforms import safe_json
from handlers.web.admin import export, reports, views
from handlers.web.admin import openapi as document
from handlers.web.admin.auth import bearer, token_name
from handlers.web.admin.context import admin, ops

if TYPE_CHECKING:
    from handlers.runner.runtime import Runtime

log = logging.getLogger(__name__)

bp = Blueprint("admin_api", __name__, url_prefix="/admin/api")
# endpoint → the query parameters the OpenAPI document names (the same for every app)
_allowed_query: dict[str, set[str]] = {}


def who() -> str:
    return str(request.environ.get("wobot.admin", ""))


@bp.before_request
def authenticate() -> Any:
    if request.endpoint == "admin_api.openapi":
        return None
    name = token_name(admin().tokens, bearer(request.headers.get("Authorization", "")))
    if name is None:
        resp = jsonify(error="missing or wrong admin token")
        resp.status_code = 401
        resp.headers["WWW-Authenticate"] = 'Bearer realm="wobot admin"'
        return resp
    request.environ["wobot.admin"] = name
    unknown = sorted(set(request.args) - _allowed_query.get(request.endpoint or "", set()))
    if unknown:
        # ``?user=zhang`` silently listing everybody would mislead at 3 a.m.: say so instead.
        raise Invalid(f"unknown query parameter {unknown[0]!r} (see /admin/api/openapi.json)")
    return None


@bp.after_request
def no_store(resp: Response) -> Response:
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.errorhandler(NotFound)
def not_found(exc: NotFound) -> Any:
    return jsonify(error=str(exc)), 404


@bp.errorhandler(Invalid)
def invalid(exc: Invalid) -> Any:
    return jsonify(error=str(exc)), 400


@bp.errorhandler(Conflict)
def conflict(exc: Conflict) -> Any:
    return jsonify(error=str(exc)), 409


@bp.errorhandler(UnknownUser)
@bp.errorhandler(Ambiguous)
def no_single_session(exc: UnknownUser | Ambiguous) -> Any:
    """A bare user id with several live sessions (409) or none (404): the keys to choose from, never a guess."""
    status = 409 if isinstance(exc, Ambiguous) else 404
    return jsonify(error=str(exc), candidates=[view.session.key for view in exc.candidates]), status


@bp.errorhandler(ServiceError)
def service_down(exc: ServiceError) -> Any:
    # StoreUnavailable is a ServiceError too: both mean "try again shortly"
    log.warning("admin API: %s", exc)
    resp = jsonify(error=str(exc) or "temporarily unavailable")
    resp.status_code = 503
    resp.headers["Retry-After"] = "5"
    return resp


@bp.errorhandler(HTTPException)
def http_error(exc: HTTPException) -> Any:
    return jsonify(error=exc.description or exc.name), exc.code or 400


def body() -> dict[str, Any]:
    if not request.get_data(cache=True):
        return {}
    try:
        data = safe_json.loads(request.get_data(cache=True))
    except safe_json.BadJson as exc:
        raise Invalid(str(exc)) from None
    if not isinstance(data, dict):
        raise Invalid("body must be a JSON object")
    return data  # not mended: ops refuse a lone surrogate in a field by name


@bp.get("/openapi.json")
def openapi() -> Any:
    return jsonify(document.document())


@bp.get("/sessions")
def sessions() -> Any:
    a = request.args
    found = ops().list_sessions(
        state=a.get("state"), platform=a.get("platform"), q=a.get("q"), cursor=a.get("cursor"), limit=a.get("limit")
    )
    return jsonify(views.page_json(views.page(found, views.session_row)))


# ``key`` in the session routes: a full key, or a bare user id that ``Ops.resolve`` finds (as the CLI does).
@bp.get("/sessions/<path:key>")
def session(key: str) -> Any:
    return jsonify(views.session_detail(ops(), ops().session(ops().resolve(key))))


@bp.post("/sessions/<path:key>/reset")
def reset(key: str) -> Any:
    notify = body().get("notify", False)
    if not isinstance(notify, bool):
        raise Invalid("notify must be true or false")
    return jsonify(ops().reset(ops().resolve(key), who=who(), notify=notify))


@bp.delete("/sessions/<path:key>")
def delete(key: str) -> Any:
    return jsonify(ops().delete(ops().resolve(key), who=who()))


@bp.put("/sessions/<path:key>/ttl")
def ttl(key: str) -> Any:
    data = body()
    if "seconds" not in data:
        raise Invalid("seconds is required")
    return jsonify(ops().set_ttl(ops().resolve(key), data["seconds"], who=who()))


@bp.get("/stats")
def stats() -> Any:
    return jsonify(ops().stats())


@bp.get("/orders")
def orders() -> Any:
    a = request.args
    found = ops().list_orders(status=a.get("status"), q=a.get("q"), cursor=a.get("cursor"), limit=a.get("limit"))
    return jsonify(views.page_json(views.page(found, lambda o: views.order_row(ops(), o))))


@bp.get("/orders/<order_id>")
def order(order_id: str) -> Any:
    return jsonify(views.order_detail(ops(), ops().order(order_id)))


@bp.post("/orders/<order_id>/cancel")
def cancel(order_id: str) -> Any:
    return jsonify(views.order_row(ops(), ops().cancel_order(order_id, body().get("reason"), who=who())))


@bp.post("/orders/<order_id>/move")
def move(order_id: str) -> Any:
    return jsonify(views.order_row(ops(), ops_move(ops(), order_id, body(), who=who())))


def _runtime() -> Runtime:
    runtime: Runtime = current_app.extensions["wobot"]
    return runtime


@bp.get("/orders.csv")
def orders_csv() -> Response:
    return export.response(request.args)


@bp.get("/deliveries")
def deliveries() -> Any:
    if request.args.get("status", "failed") != "failed":
        raise Invalid("only failed deliveries are kept: status=failed")
    outbox = _runtime().outbox
    if outbox is None:
        return jsonify(items=[], waiting={})
    return jsonify(items=outbox.failed(), waiting=outbox.pending_count())


@bp.post("/deliveries/<event_id>/retry")
def retry_delivery(event_id: str) -> Any:
    outbox = _runtime().outbox
    entry = outbox.retry_failed(event_id) if outbox is not None else None
    if entry is None:
        raise NotFound(f"no failed delivery {event_id!r}")
    ops().audit(who(), "delivery.retry", event_id, before={"status": "failed"}, after={"status": "queued"})
    return jsonify(entry)


@bp.get("/reports")
def report() -> Any:
    """The figures of docs/reports.md for a period and filters; ``format=csv`` for the same as a spreadsheet."""
    fmt = request.args.get("format", "json")
    if fmt not in ("json", "csv"):
        raise Invalid(f"format must be json or csv, not {fmt[:20]!r}")
    _, _, figures = reports.requested(request.args)
    return reports.csv_response(figures) if fmt == "csv" else jsonify(figures)


@bp.get("/audit")
def audit() -> Any:
    found = ops().audit_log(cursor=request.args.get("cursor"), limit=request.args.get("limit"))
    return jsonify(views.page_json(views.page(found, views.audit_row)))


@bp.record_once
def _query_params(state: Any) -> None:
    read_query_params(state.app)


def read_query_params(app: Any) -> None:
    """Read each endpoint's query parameters from the OpenAPI document: one owner for that list. (Routes added to
    the blueprint by another module after this one call it again from a ``record_once`` of their own.)"""
    paths = document.document()["paths"]
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("admin_api."):
            continue
        template = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule.removeprefix("/admin/api"))
        for method in rule.methods or ():
            operation = paths.get(template, {}).get(method.lower(), {})
            names = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
            _allowed_query.setdefault(rule.endpoint, set()).update(names)
