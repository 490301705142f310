"""CPU per request, in process, of the generic text turn and the Slack ack, beside a bare Flask route and the
naive Redis session route (GET + merge + SETEX), all measured in this run on the same Redis.

``../shared/perf/run`` loads the routes with wrk under gunicorn, where the machine's noise moves the ratios by
a tenth from run to run. This calls each WSGI app directly in one process and reads the process's CPU time
(``time.process_time``: every thread of the process, the turn consumers included), best of 7 rounds, so the
cost of the code itself shows. Redis's own CPU and gunicorn's per-connection work are not in it.

    .venv/bin/python bench/turn_cpu.py [-n 1000] [--redis redis://127.0.0.1:6379/0]

Prints figures; not a test.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis
from flask import Flask, request
from slack_sdk.signature import SignatureVerifier

from bot.config import Settings
from handlers.app import create_app

TEXT = "我下周二想请一天年假"  # the perf run's message: chatter answered in idle
SECRET, TOKEN = "bench-signing-secret", "bench-generic-token"
USERS = 50


def naive_app(client: redis.Redis) -> Flask:
    """The perf run's naive route: load, merge, save with TTL; no lock, no dedupe."""
    app = Flask("naive")

    @app.post("/hook")
    def hook() -> Any:
        body = request.get_json()
        sid = body.get("session_id") or "sid-x"
        prev = client.get(f"naive:{sid}")
        state = {**(json.loads(prev) if prev else {}), **body}
        history = state.get("history", [])
        history.append({"role": "user", "content": body.get("text", ""), "ts": time.time()})
        state["history"] = history[-20:]
        client.set(f"naive:{sid}", json.dumps(state, ensure_ascii=False), ex=600)
        return {"answer": "ok", "session_id": sid}

    return app


def bare_app() -> Flask:
    app = Flask("bare")

    @app.post("/hook")
    def hook() -> str:
        return "ok"

    return app


def environ(path: str, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    env = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "bench",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "application/json",
    }
    env.update({"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()})
    return env


def cpu_per_request(app: Any, make: Callable[[int], dict[str, Any]], n: int) -> float:
    """Microseconds of process CPU per request, best of 7 rounds of ``n`` (after a warm-up)."""
    statuses: list[str] = []

    def start_response(status: str, headers: Any, exc_info: Any = None) -> None:
        statuses.append(status)

    def run(rounds: int, offset: int) -> None:
        for i in range(rounds):
            b"".join(app(make(offset + i), start_response))

    run(300, 0)
    best = float("inf")
    for round_ in range(7):
        started = time.process_time()
        run(n, (round_ + 1) * n)
        best = min(best, (time.process_time() - started) / n * 1e6)
    failed = [s for s in statuses if not s.startswith("200")]
    if failed:
        raise SystemExit(f"{len(failed)} requests failed, e.g. {failed[0]}")
    return best


def generic_request(i: int) -> dict[str, Any]:
    body = json.dumps({"user_id": f"bench-{i % USERS}", "text": TEXT}, ensure_ascii=False).encode()
    return environ("/webhook/generic", body, {"Authorization": f"Bearer {TOKEN}"})


def slack_requests() -> Callable[[int], dict[str, Any]]:
    """The perf run's Slack load: 2,000 signed events in rotation, so most are redeliveries after the first lap."""
    verifier, ts = SignatureVerifier(SECRET), str(int(time.time()))
    signed = []
    for i in range(2000):
        event = {"type": "message", "channel": f"D{i % USERS}", "channel_type": "im", "user": f"U{i % USERS}"}
        body = json.dumps(
            {
                "type": "event_callback",
                "team_id": "T1",
                "event_id": f"Ev{i:08d}",
                "event": {**event, "text": "hello", "ts": f"{i}.1"},
            }
        )
        signed.append((body.encode(), verifier.generate_signature(timestamp=ts, body=body)))

    def make(i: int) -> dict[str, Any]:
        body, signature = signed[i % len(signed)]
        return environ("/webhook/slack", body, {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature})

    return make


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=1000, help="requests per round (default 1000)")
    parser.add_argument("--redis", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    args = parser.parse_args()
    client = redis.Redis.from_url(args.redis)
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            redis_url=args.redis,
            redis_prefix=prefix,
            storage_dir=f"{tmp}/images",
            database_url=f"sqlite:///{tmp}/orders.db",
            generic_webhook_token=TOKEN,
            slack_signing_secret=SECRET,
            slack_bot_token="xoxb-bench",
            slack_api_base="http://127.0.0.1:9/api",  # nothing listens: replies fail fast, as in the perf run
        )
        app = create_app(settings)
        logging.getLogger().setLevel(logging.CRITICAL)  # the perf run logs to a file; here lines would be noise
        try:
            rows = [
                ("bare Flask route", cpu_per_request(bare_app(), lambda i: environ("/hook", b"{}", {}), args.n)),
                (
                    "naive Redis session route",
                    cpu_per_request(
                        naive_app(client),
                        lambda i: environ(
                            "/hook", json.dumps({"session_id": f"s{i % USERS}", "text": TEXT}).encode(), {}
                        ),
                        args.n,
                    ),
                ),
                ("generic text turn", cpu_per_request(app, generic_request, args.n)),
                ("Slack event ack", cpu_per_request(app, slack_requests(), args.n)),
            ]
        finally:
            for key in client.scan_iter(match=f"{prefix}:*"):
                client.delete(key)
            for key in client.scan_iter(match="naive:*"):
                client.delete(key)
    naive = rows[1][1]
    print(f"{'route':28} {'CPU us/request':>15} {'x naive':>8}")
    for name, micros in rows:
        print(f"{name:28} {micros:15.0f} {micros / naive:8.2f}")


if __name__ == "__main__":
    main()
