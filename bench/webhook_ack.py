"""Webhook ack latency per platform (p50/p99) for a signed text event, beside a plain Flask route.

What is measured: the time from sending the request to having the answer, through Flask's
test client (``--http`` for a real loopback server): verify, decrypt, parse, dedupe mark in
Redis, hand-off to the background pool, answer. The turns themselves run in the background,
as in production, against local fake platform APIs; they share the CPU with the acks.

    .venv/bin/python bench/webhook_ack.py [-n 500] [--http] [--redis redis://127.0.0.1:6379/0]

Without ``--redis`` (or REDIS_URL) the in-process store is used. Prints figures; not a test.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from slack_sdk.signature import SignatureVerifier

from bot.config import Settings
from handlers.platforms import crypto as pc
from handlers.web.app import create_app, runtime_of
from tests.fakes.platform_servers import FakeFeishu, FakeSlack, FakeWeCom

CORP, AGENT, WECOM_TOKEN = "ww1436e0e65a779aee", "1000002", "bench-token"
AES_KEY = "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt"
FEISHU_KEY, FEISHU_VT = "bench-encrypt-key", "bench-verification"
SLACK_SECRET = "bench-signing-secret"

Request = tuple[str, str, bytes, dict[str, str]]  # method, path+query, body, headers


def wecom_request(i: int) -> Request:
    plain = (
        f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><FromUserName><![CDATA[user{i % 50}]]></FromUserName>"
        f"<CreateTime>{1700000000 + i}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[状态]]></Content><MsgId>{7300000000000000000 + i}</MsgId>"
        f"<AgentID>{AGENT}</AgentID></xml>"
    )
    encrypt = pc.wecom_encrypt(AES_KEY, plain.encode(), CORP)
    ts, nonce = str(int(time.time())), str(i)
    sig = pc.wecom_signature(WECOM_TOKEN, ts, nonce, encrypt)
    body = (
        f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><AgentID><![CDATA[{AGENT}]]></AgentID>"
        f"<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    ).encode()
    return "POST", f"/webhook/wecom?msg_signature={sig}&timestamp={ts}&nonce={nonce}", body, {}


def feishu_request(i: int) -> Request:
    event = {
        "schema": "2.0",
        "header": {
            "event_id": uuid.uuid4().hex,
            "event_type": "im.message.receive_v1",
            "token": FEISHU_VT,
            "tenant_key": "tk",
            "app_id": "cli_bench",
            "create_time": "1",
        },
        "event": {
            "sender": {"sender_id": {"open_id": f"ou_{i % 50}"}, "sender_type": "user"},
            "message": {
                "message_id": f"om_{uuid.uuid4().hex}",
                "chat_id": "oc_1",
                "chat_type": "p2p",
                "message_type": "text",
                "content": json.dumps({"text": "状态"}),
            },
        },
    }
    body = json.dumps({"encrypt": pc.feishu_encrypt(FEISHU_KEY, json.dumps(event))}).encode()
    ts, nonce = str(int(time.time())), f"n{i}"
    headers = {
        "Content-Type": "application/json",
        "X-Lark-Request-Timestamp": ts,
        "X-Lark-Request-Nonce": nonce,
        "X-Lark-Signature": hashlib.sha256((ts + nonce + FEISHU_KEY).encode() + body).hexdigest(),
    }
    return "POST", "/webhook/feishu", body, headers


def slack_request(i: int) -> Request:
    payload = {
        "type": "event_callback",
        "team_id": "T1",
        "event_id": f"Ev{uuid.uuid4().hex}",
        "authorizations": [{"user_id": "UBOT", "is_bot": True}],
        "event": {
            "type": "message",
            "user": f"U{i % 50}",
            "channel": "D1",
            "ts": f"{1700000000 + i}.000100",
            "text": "status",
        },
    }
    body = json.dumps(payload).encode()
    ts = str(int(time.time()))
    sig = SignatureVerifier(SLACK_SECRET).generate_signature(timestamp=ts, body=body)
    return (
        "POST",
        "/webhook/slack",
        body,
        {"Content-Type": "application/json", "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig},
    )


def plain_request(i: int) -> Request:
    return "POST", "/bench/plain", b"{}", {"Content-Type": "application/json"}


def measure(send: Callable[[Request], int], make: Callable[[int], Request], n: int) -> list[float]:
    requests = [make(i) for i in range(n)]  # build (encrypt, sign) outside the timed section
    times = []
    for req in requests:
        started = time.perf_counter()
        status = send(req)
        times.append((time.perf_counter() - started) * 1000)
        if status != 200:
            raise SystemExit(f"{req[1]} answered {status}")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=300, help="requests per platform (default 300)")
    parser.add_argument("--http", action="store_true", help="a real loopback HTTP server instead of the test client")
    parser.add_argument("--redis", default=os.environ.get("REDIS_URL", ""), help="Redis URL (default: in-process)")
    args = parser.parse_args()

    with (
        tempfile.TemporaryDirectory() as tmp,
        FakeWeCom(CORP, "s") as wecom,
        FakeFeishu("cli_bench", "s") as feishu,
        FakeSlack("xoxb-bench") as slack,
    ):
        settings = Settings(
            redis_url=args.redis,
            redis_prefix=f"bench{uuid.uuid4().hex[:8]}",
            storage_dir=f"{tmp}/images",
            database_url=f"sqlite:///{tmp}/orders.db",
            log_level="WARNING",
            wecom_corp_id=CORP,
            wecom_agent_id=AGENT,
            wecom_secret="s",
            wecom_token=WECOM_TOKEN,
            wecom_encoding_aes_key=AES_KEY,
            wecom_api_base=wecom.base_url,
            feishu_app_id="cli_bench",
            feishu_app_secret="s",
            feishu_verification_token=FEISHU_VT,
            feishu_encrypt_key=FEISHU_KEY,
            feishu_api_base=feishu.base_url,
            slack_signing_secret=SLACK_SECRET,
            slack_bot_token="xoxb-bench",
            slack_api_base=slack.base_url,
        )
        app = create_app(settings)
        app.add_url_rule("/bench/plain", "bench_plain", lambda: ("", 200), methods=["POST"])
        runtime = runtime_of(app)

        server = None
        if args.http:
            from werkzeug.serving import make_server

            logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log lines in the figures
            server = make_server("127.0.0.1", 0, app, threaded=True)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            base = f"http://127.0.0.1:{server.server_port}"

            def send(req: Request) -> int:
                method, path, body, headers = req
                try:
                    loopback = urllib.request.Request(base + path, body, headers, method=method)  # noqa: S310
                    with urllib.request.urlopen(loopback, timeout=30) as resp:  # noqa: S310 - our own server
                        resp.read()
                        return resp.status
                except urllib.error.HTTPError as exc:
                    return exc.code
        else:
            client = app.test_client()

            def send(req: Request) -> int:
                method, path, body, headers = req
                return client.open(path, method=method, data=body, headers=headers).status_code

        print(
            f"webhook ack latency, {args.n} requests each, {'HTTP' if args.http else 'Flask test client'}, "
            f"store: {'redis' if args.redis else 'in-process'}"
        )
        print(f"{'route':<16}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
        try:
            for name, make in (
                ("plain Flask 200", plain_request),
                ("wecom", wecom_request),
                ("feishu", feishu_request),
                ("slack", slack_request),
            ):
                send(make(10**6))  # warm up (imports, token fetch, first connection)
                times = sorted(measure(send, make, args.n))
                p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
                print(f"{name:<16}{statistics.median(times):>10.2f}{p99:>10.2f}{times[-1]:>10.2f}")
                runtime.drain()  # the next platform starts without this one's turns still running
        finally:
            runtime.drain()
            if server is not None:
                server.shutdown()
            if args.redis:
                client_redis = runtime.store.redis
                keys = list(client_redis.scan_iter(match=f"{settings.redis_prefix}:*", count=1000))
                for start in range(0, len(keys), 500):
                    client_redis.delete(*keys[start : start + 500])


if __name__ == "__main__":
    main()
