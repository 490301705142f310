"""Flask application factory: ``create_app(settings, *, store=…, vlm=…, …)``.

Production calls ``create_app()`` (settings from the environment); tests pass their
own Settings and ports. Nothing is built at import time.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from bot.config import Settings
from bot.ports import StoreUnavailable
from handlers import cli, generic, health, metrics
from handlers.logs import configure_logging
from handlers.runtime import _UNSET, Runtime, build_runtime

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None, **ports: Any) -> Flask:
    """Build the app. ``ports`` may hold ``store``, ``vlm``, ``storage``, ``orders`` to replace the real ones."""
    settings = settings or (runtime.settings if runtime else Settings.from_env())
    configure_logging(settings)
    if runtime is None:
        runtime = build_runtime(settings, **{"vlm": _UNSET, **ports})
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.extensions["wobot"] = runtime

    app.register_blueprint(health.blueprint(runtime))
    metrics.register(app, runtime)
    app.register_blueprint(generic.blueprint(runtime))
    enabled = []
    for name, module in sorted(runtime.platforms.items()):
        if module.enabled(settings):
            app.register_blueprint(module.blueprint(runtime))
            enabled.append(name)
    _register_optional(app, runtime)
    cli.register(app, runtime)
    _register_errors(app)
    log.info(
        "platforms on: %s; store: %s; VLM: %s; storage: %s",
        ", ".join(enabled) or "none (generic webhook only)",
        "redis" if settings.redis_url else "in-process (single process only)",
        "on" if runtime.services.vlm else "off (users pick the type)",
        "s3" if settings.s3_bucket else f"local folder {settings.storage_dir}",
    )
    return app


def runtime_of(app: Flask) -> Runtime:
    return app.extensions["wobot"]


def _register_optional(app: Flask, runtime: Runtime) -> None:
    """Ops routes, when that module is present (it registers itself only if ADMIN_TOKEN is set)."""
    try:
        from handlers import admin
    except ImportError:
        return
    admin.register(app, runtime)


def _register_errors(app: Flask) -> None:
    @app.errorhandler(StoreUnavailable)
    def store_down(exc: StoreUnavailable) -> Any:
        log.warning("store unavailable: %s", exc)
        response = jsonify(error="session store unavailable, try again shortly")
        response.status_code = 503
        response.headers["Retry-After"] = "5"
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        response = jsonify(error=exc.description or exc.name)
        response.status_code = exc.code or 400
        return response

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Any:
        # Never a stack trace to a caller: log it here, answer in one line.
        log.exception("unhandled error at the edge")
        response = jsonify(error="temporarily unavailable")
        response.status_code = 503
        return response
