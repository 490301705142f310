"""CPU per request, in process, of the generic text turn and of each platform's ack, beside a bare Flask route
and the naive Redis session route (GET + merge + SETEX), all measured in this run on the same Redis.

``../shared/perf/run`` loads the routes with wrk under gunicorn, where the machine's noise moves the ratios by
a tenth from run to run. This calls each WSGI app directly and reads the CPU time of the calling thread
(``time.thread_time``), best of 7 rounds, so the cost of the code itself shows: the turns an ack hands on run
in consumer threads and are not counted, nor are Redis's own CPU and gunicorn's per-connection work.

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
from handlers.web.app import create_app

sys.path.insert(0, str(Path(__file__).resolve().parent))
import webhook_ack as ack

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
    """Microseconds of the calling thread's CPU per request, best of 7 rounds of ``n`` (after a warm-up)."""
    return interleaved(app, [make], n)[0]


def interleaved(app: Any, makes: list[Callable[[int], dict[str, Any]]], n: int) -> list[float]:
    """``cpu_per_request`` for several kinds of request, their rounds taken in turn: the turns that acks hand on
    pile up in the background as a run goes on, and measured one after the other the last would pay for it."""
    statuses: list[str] = []

    def start_response(status: str, headers: Any, exc_info: Any = None) -> None:
        statuses.append(status)

    def run(make: Callable[[int], dict[str, Any]], rounds: int, offset: int) -> float:
        """Seconds of CPU to serve ``rounds`` requests, built (signed, encrypted: the bench's work) beforehand."""
        environs = [make(offset + i) for i in range(rounds)]
        started = time.thread_time()
        for environ in environs:
            b"".join(app(environ, start_response))
        return time.thread_time() - started

    for make in makes:
        run(make, 300, 0)
    best = [float("inf")] * len(makes)
    for round_ in range(7):
        for k, make in enumerate(makes):
            best[k] = min(best[k], run(make, n, (round_ + 1) * n) / n * 1e6)
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


def first_time(make: Callable[[int], tuple[str, str, bytes, dict[str, str]]]) -> Callable[[int], dict[str, Any]]:
    """Events never seen before, signed (and encrypted) the platform's way by ``bench/webhook_ack.py``."""

    def environ_of(i: int) -> dict[str, Any]:
        _method, path, body, headers = make(i)
        path, _, query = path.partition("?")
        env = environ(path, body, headers)
        env["QUERY_STRING"] = query
        return env

    return environ_of


def bench_settings(redis_url: str, prefix: str, tmp: str, slack_secret: str = SECRET) -> Settings:
    """Every platform on, its API nowhere (nothing listens: replies fail fast, as in the perf run)."""
    nowhere = "http://127.0.0.1:9"
    return Settings(
        redis_url=redis_url,
        redis_prefix=prefix,
        storage_dir=f"{tmp}/images",
        database_url=f"sqlite:///{tmp}/orders.db",
        generic_webhook_token=TOKEN,
        turn_queue_max=1_000_000,  # the acks outrun the turns (replies go nowhere): measure the acks, not 503s
        slack_signing_secret=slack_secret,
        slack_bot_token="xoxb-bench",
        slack_api_base=f"{nowhere}/api",
        wecom_corp_id=ack.CORP,
        wecom_agent_id=ack.AGENT,
        wecom_secret="s",
        wecom_token=ack.WECOM_TOKEN,
        wecom_encoding_aes_key=ack.AES_KEY,
        wecom_api_base=nowhere,
        feishu_app_id="cli_bench",
        feishu_app_secret="s",
        feishu_verification_token=ack.FEISHU_VT,
        feishu_encrypt_key=ack.FEISHU_KEY,
        feishu_api_base=nowhere,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=1000, help="requests per round (default 1000)")
    parser.add_argument("--redis", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    args = parser.parse_args()
    client = redis.Redis.from_url(args.redis)
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as tmp:
        settings = bench_settings(args.redis, prefix, tmp)
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
                ("Slack ack, perf's rotation", cpu_per_request(app, slack_requests(), args.n)),
            ]
            signing_secret = ack.SLACK_SECRET
            app_for_acks = create_app(settings.with_(slack_signing_secret=signing_secret))
            logging.getLogger().setLevel(logging.CRITICAL)
            platforms = {"slack": ack.slack_request, "wecom": ack.wecom_request, "feishu": ack.feishu_request}
            micros = interleaved(app_for_acks, [first_time(make) for make in platforms.values()], args.n)
            rows += [(f"{name} ack, new event", cpu) for name, cpu in zip(platforms, micros, strict=True)]
        finally:
            for key in client.scan_iter(match=f"{prefix}:*"):
                client.delete(key)
            for key in client.scan_iter(match="naive:*"):
                client.delete(key)
    naive = rows[1][1]
    print(f"{'route':28} {'CPU us/request':>15} {'x naive':>8}")  # thread CPU
    for name, micros in rows:
        print(f"{name:28} {micros:15.0f} {micros / naive:8.2f}")


if __name__ == "__main__":
    main()
