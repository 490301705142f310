"""Liveness and readiness probes."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from bot.ports import ServiceError
from handlers.runner.runtime import Runtime

EMBEDDED = "embedded"  # no REDIS_URL: sessions live in this process


def blueprint(runtime: Runtime) -> Blueprint:
    bp = Blueprint("health", __name__)

    @bp.get("/healthz")
    def healthz() -> Any:
        return jsonify(status="ok")

    @bp.get("/readyz")
    def readyz() -> Any:
        # Without REDIS_URL the sessions live in this process: "ok" would read as "Redis is there".
        store_up = "ok" if runtime.store.shared else EMBEDDED
        checks: dict[str, str] = {}
        for name, ping, up in (
            ("redis", runtime.store.ping, store_up),
            ("database", runtime.services.orders.ping, "ok"),
        ):
            try:
                ping()
                checks[name] = up
            except ServiceError as exc:
                checks[name] = str(exc)
        ready = all(v in ("ok", EMBEDDED) for v in checks.values())
        return jsonify(status="ok" if ready else "unavailable", checks=checks), 200 if ready else 503

    return bp
