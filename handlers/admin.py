"""Ops edge: the JSON API under ``/admin/api``, the page under ``/admin``, and the ops CLI commands.

Off by default: with ``ADMIN_TOKEN`` empty no admin route exists (404). ``ADMIN_TOKEN`` is
one secret (its audit name is "admin"), or comma-separated ``name:secret`` pairs so the
audit trail says who did what. Tokens are compared in constant time, against every
configured token. The CLI (``flask --app wsgi sessions …``) is always there: it runs on
the box, as "cli".

The operations live in ``bot.ops``; this module translates HTTP to them and back.
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from bot.ops import Conflict, Invalid, NotFound, Ops, split_key
from bot.ports import ServiceError
from handlers import admin_cli, admin_openapi, admin_page
from handlers.metrics import known_platforms
from handlers.runtime import Runtime

log = logging.getLogger(__name__)

DEFAULT_TOKEN_NAME = "admin"  # noqa: S105 - the audit name of a single unnamed token
_NAMED = re.compile(r"^([A-Za-z][\w.-]{0,31}):(.+)$")


def parse_tokens(raw: str) -> dict[str, str]:
    """``"s3cret"`` → {"admin": "s3cret"}; ``"alice:s1,bob:s2"`` → {"alice": "s1", "bob": "s2"}."""
    raw = raw.strip()
    if not raw:
        return {}
    entries = [e.strip() for e in raw.split(",") if e.strip()]
    named = [_NAMED.match(e) for e in entries]
    if len(entries) > 1 or all(named):
        tokens: dict[str, str] = {}
        for match in named:
            if match is None:
                raise ValueError("ADMIN_TOKEN with several tokens must be name:secret pairs separated by commas")
            tokens[match.group(1)] = match.group(2)
        return tokens
    return {DEFAULT_TOKEN_NAME: raw}


def token_name(tokens: dict[str, str], given: str) -> str | None:
    """The name of the token ``given`` is, or None; compares against every token, in constant time."""
    found = None
    given_bytes = given.encode()
    for name, secret in tokens.items():
        if hmac.compare_digest(given_bytes, secret.encode()) and found is None:
            found = name
    return found


def bearer(header: str) -> str:
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def platform_notifier(runtime: Runtime) -> Callable[[str, str], bool]:
    """``notify(session_key, text) -> delivered``: via the platform module's ``notify(runtime, tenant, user, text)``.

    Platforms without a push channel (generic webhook, console) or whose module has no
    ``notify`` (or is not configured) answer False: the API then says ``notified: false``.
    """

    def notify(skey: str, text: str) -> bool:
        platform, tenant, user = split_key(skey)
        module = runtime.platforms.get(platform)
        send = getattr(module, "notify", None) if module is not None else None
        if send is None or not module.enabled(runtime.settings):  # type: ignore[union-attr]
            return False
        return bool(send(runtime, tenant, user, text))

    return notify


def build_ops(runtime: Runtime, *, page: bool) -> Ops:
    """``page``: photos without a store URL are linked to the page's authenticated image route."""
    return Ops(
        runtime.settings,
        runtime.store,
        runtime.engine,
        runtime.services.orders,
        runtime.services.storage,
        platforms=known_platforms(runtime),
        notify=platform_notifier(runtime),
        image_link=(lambda key: f"/admin/images/{key}") if page else None,
    )


def register(app: Flask, runtime: Runtime) -> None:
    tokens = parse_tokens(runtime.settings.admin_token)
    ops = build_ops(runtime, page=bool(tokens))
    app.extensions["wobot_ops"] = ops
    admin_cli.register(app, ops)
    if not tokens:
        log.info("admin API and page off (ADMIN_TOKEN is not set)")
        return
    app.register_blueprint(api_blueprint(ops, tokens))
    app.register_blueprint(admin_page.blueprint(ops, tokens, runtime.settings.admin_token))
    log.info("admin API at /admin/api and page at /admin (tokens: %s)", ", ".join(sorted(tokens)))


def api_blueprint(ops: Ops, tokens: dict[str, str]) -> Blueprint:
    bp = Blueprint("admin_api", __name__, url_prefix="/admin/api")
    allowed_query: dict[str, set[str]] = {}  # endpoint → query parameters the document names

    def who() -> str:
        return request.environ.get("wobot.admin", "")

    @bp.before_request
    def authenticate() -> Any:
        if request.endpoint == "admin_api.openapi":
            return None
        name = token_name(tokens, bearer(request.headers.get("Authorization", "")))
        if name is None:
            resp = jsonify(error="missing or wrong admin token")
            resp.status_code = 401
            resp.headers["WWW-Authenticate"] = 'Bearer realm="wobot admin"'
            return resp
        request.environ["wobot.admin"] = name
        unknown = sorted(set(request.args) - allowed_query.get(request.endpoint or "", set()))
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
        data = request.get_json(silent=True, force=True)
        if not isinstance(data, dict):
            raise Invalid("body must be a JSON object")
        return data

    @bp.get("/openapi.json")
    def openapi() -> Any:
        return jsonify(admin_openapi.document())

    @bp.get("/sessions")
    def sessions() -> Any:
        a = request.args
        page = ops.list_sessions(
            state=a.get("state"), platform=a.get("platform"), q=a.get("q"), cursor=a.get("cursor"), limit=a.get("limit")
        )
        return jsonify(page.to_json())

    @bp.get("/sessions/<path:key>")
    def session(key: str) -> Any:
        return jsonify(ops.session(key))

    @bp.post("/sessions/<path:key>/reset")
    def reset(key: str) -> Any:
        notify = body().get("notify", False)
        if not isinstance(notify, bool):
            raise Invalid("notify must be true or false")
        return jsonify(ops.reset(key, who=who(), notify=notify))

    @bp.delete("/sessions/<path:key>")
    def delete(key: str) -> Any:
        return jsonify(ops.delete(key, who=who()))

    @bp.put("/sessions/<path:key>/ttl")
    def ttl(key: str) -> Any:
        data = body()
        if "seconds" not in data:
            raise Invalid("seconds is required")
        return jsonify(ops.set_ttl(key, data["seconds"], who=who()))

    @bp.get("/stats")
    def stats() -> Any:
        return jsonify(ops.stats())

    @bp.get("/orders")
    def orders() -> Any:
        a = request.args
        page = ops.list_orders(status=a.get("status"), q=a.get("q"), cursor=a.get("cursor"), limit=a.get("limit"))
        return jsonify(page.to_json())

    @bp.get("/orders/<order_id>")
    def order(order_id: str) -> Any:
        return jsonify(ops.order(order_id))

    @bp.post("/orders/<order_id>/cancel")
    def cancel(order_id: str) -> Any:
        return jsonify(ops.cancel_order(order_id, body().get("reason"), who=who()))

    @bp.get("/audit")
    def audit() -> Any:
        page = ops.audit_log(cursor=request.args.get("cursor"), limit=request.args.get("limit"))
        return jsonify(page.to_json())

    @bp.record_once
    def _query_params(state: Any) -> None:
        """Read each endpoint's query parameters from the OpenAPI document: one owner for that list."""
        paths = admin_openapi.document()["paths"]
        for rule in state.app.url_map.iter_rules():
            if not rule.endpoint.startswith("admin_api."):
                continue
            template = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule.removeprefix("/admin/api"))
            for method in rule.methods or ():
                operation = paths.get(template, {}).get(method.lower(), {})
                names = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
                allowed_query.setdefault(rule.endpoint, set()).update(names)

    return bp
