"""Liveness and readiness probes."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from bot.ports import ServiceError
from handlers.runtime import Runtime


def blueprint(runtime: Runtime) -> Blueprint:
    bp = Blueprint("health", __name__)

    @bp.get("/healthz")
    def healthz() -> Any:
        return jsonify(status="ok")

    @bp.get("/readyz")
    def readyz() -> Any:
        checks: dict[str, str] = {}
        for name, ping in (("redis", runtime.store.ping), ("database", runtime.services.orders.ping)):
            try:
                ping()
                checks[name] = "ok"
            except ServiceError as exc:
                checks[name] = str(exc)
        ready = all(v == "ok" for v in checks.values())
        return jsonify(status="ok" if ready else "unavailable", checks=checks), 200 if ready else 503

    return bp
