"""Flask application factory: ``create_app(settings, *, store=…, vlm=…, …)``.

Production calls ``create_app()`` (settings from the environment); tests pass their
own Settings and ports. Nothing is built at import time. The services are built once
here and handed out: the runtime (store, engine, intake) and the one ``Ops``.
"""

from __future__ import annotations

import atexit
import logging
from typing import Any

import click
from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from bot.adapters.redis.store import SessionStore
from bot.config import Settings
from bot.observe import Observer
from bot.ports import ObjectStore, StoreUnavailable, Stt, Vlm, WorkOrders
from handlers import cli, metrics
from handlers.logs import STARTUP_SUMMARY, configure_logging
from handlers.platforms import safe_json
from handlers.runner import work
from handlers.runner.bootstrap import UNSET, build_runtime
from handlers.runner.runtime import Runtime
from handlers.web import admin, generic, health, webhooks

log = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None,
    *,
    runtime: Runtime | None = None,
    store: SessionStore | None = None,
    vlm: Vlm | None = UNSET,
    stt: Stt | None = UNSET,
    storage: ObjectStore | None = None,
    orders: WorkOrders | None = None,
    observer: Observer | None = None,
) -> Flask:
    """Build the app. The ports given replace the ones ``settings`` would build (``vlm=None``: no VLM,
    ``stt=None``: no speech to text)."""
    settings = settings or (runtime.settings if runtime else Settings.from_env())
    command_line = _loaded_by_a_command()
    configure_logging(settings, command_line=command_line)
    if runtime is None:
        runtime = build_runtime(
            settings, store=store, vlm=vlm, stt=stt, storage=storage, orders=orders, observer=observer
        )
    app = Flask(__name__)
    app.json = safe_json.Utf8JsonProvider(app)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.extensions["wobot"] = runtime
    ops = admin.build_ops(runtime)

    app.register_blueprint(health.blueprint(runtime))
    metrics.register(app, runtime, ops.session_counts)
    if settings.generic_webhook_mode != "off":
        app.register_blueprint(generic.blueprint(runtime))
    enabled = []
    for name, module in sorted(runtime.platforms.items()):
        if module.enabled(settings):
            app.register_blueprint(webhooks.blueprint(runtime, module))
            enabled.append(name)
    admin_line = admin.register(app, runtime, ops)
    cli.register(app, runtime)
    work.register(app, runtime)
    if not command_line and not background_after_fork:
        start_background(app)
    _register_errors(app)
    summary = "; ".join(
        (
            f"platforms on: {', '.join(enabled) or 'none'}",
            f"generic webhook: {_GENERIC_WEBHOOK[settings.generic_webhook_mode]}",
            f"store: {_store_kind(settings)}",
            f"VLM: {'on' if runtime.services.vlm else 'off (users pick the type)'}",
            f"language model for free text: {'on' if runtime.services.nlu else 'off (the bot asks when unsure)'}",
            f"storage: {'s3' if settings.s3_bucket else f'local folder {settings.storage_dir}'}",
            admin_line,
        )
    )
    app.extensions[STARTUP_SUMMARY] = summary
    log.info("%s", summary)
    return app


# True in a process that builds the app and then forks (gunicorn's master with ``preload_app``, set by
# gunicorn.conf.py): threads do not survive a fork, so each worker starts its own (``start_background``, from
# the ``post_worker_init`` hook) and the master, which serves nothing, starts none.
background_after_fork = False


def start_background(app: Flask) -> None:
    """Start this process's background work in thread mode: the turn consumers (with Redis) and the courier. In
    worker mode a web process only acks: the ``turns work`` processes run both."""
    runtime = runtime_of(app)
    settings = runtime.settings
    if settings.worker_mode == "thread" and settings.redis_configured:
        # Consume from boot, not from the first webhook: a process started after a crash takes over the
        # turns the dead one left. On SIGTERM (a deploy) gunicorn's worker exits through atexit: finish them.
        runtime.start_workers()
        atexit.register(runtime.stop)
    # else the ``turns work`` processes run them
    if (runtime.outbox is not None or runtime.digest is not None) and settings.worker_mode == "thread":
        runtime.start_courier()
        atexit.register(runtime.stop)


def _loaded_by_a_command() -> bool:
    """A ``flask`` command (ops CLI, console chat) is loading the app: it stays quiet and never consumes
    other people's turns. ``flask run`` serves requests, so it is treated like gunicorn."""
    command = click.get_current_context(silent=True)
    return command is not None and command.info_name != "run"


def _store_kind(settings: Settings) -> str:
    if settings.redis_sentinels:
        return f"redis via sentinel (master {settings.redis_sentinel_master})"
    if settings.redis_configured:
        return "redis cluster" if settings.redis_cluster else "redis"
    return "in-process (single process only)"


_GENERIC_WEBHOOK = {
    "token": "on (bearer token)",
    "open": "OPEN to anyone (embedded defaults, no REDIS_URL; set GENERIC_WEBHOOK_TOKEN to close it)",
    "off": "off (Redis is set and GENERIC_WEBHOOK_TOKEN is not)",
}


def runtime_of(app: Flask) -> Runtime:
    runtime: Runtime = app.extensions["wobot"]
    return runtime


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
