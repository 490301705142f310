"""What order events cost: writing one inside a turn, and delivering them to a receiver.

    .venv/bin/python bench/order_events.py [--events 2000] [--redis redis://127.0.0.1:6379/0]

On real Redis, in one run:
  emit       ``Outbox.emit`` of one event to the webhook sink (what a confirm, a claim or a close adds to
             its turn), beside the baseline of one bare ``RPUSH`` of the same JSON (one round trip)
  deliver    events delivered per second by one courier (``Outbox.run_once`` rounds) to a local HTTP
             receiver that answers 200 at once: signed POSTs, one per event, in order per order;
             beside the baseline of the same number of bare ``urllib`` POSTs to that receiver
Figures, not a timed test: machines are noisy.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis

from bot.adapters.redis.outbox import Outbox
from bot.adapters.storage import LocalFolderStore
from bot.orders.events import order_record
from bot.ports import Order, Reporter
from handlers.runner.order_webhook import OrderWebhook


class Quiet(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def order(n: int) -> Order:
    now = datetime.now(UTC)
    return Order(
        id=f"WO-20261121-{n:05d}",
        status="open",
        alarm_type="漏水",
        description="水管破裂，地面积水约两厘米",
        severity="high",
        location_text="3号楼地下一层水泵房",
        latitude=31.2304,
        longitude=121.4737,
        report_photo_key="images/2026/11/21/abc.jpg",
        close_photo_key=None,
        vlm_resolved=None,
        vlm_reason=None,
        reporter=Reporter("wecom", "ww1436e0e65a779aee", "zhangsan"),
        alarm_id=None,
        created_at=now,
        closed_at=None,
        history=[],
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    client = redis.Redis.from_url(args.redis)
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    server = ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    sink = OrderWebhook(url, "bench-secret", LocalFolderStore(tempfile.mkdtemp()))
    outbox = Outbox(client, lambda *parts: ":".join((prefix, *parts)), [sink])
    orders = [order(n) for n in range(50)]
    entry = json.dumps({"event": {"order": order_record(orders[0])}}, ensure_ascii=False)
    try:
        started = time.perf_counter()
        for _ in range(args.events):
            client.rpush(f"{prefix}:baseline", entry)
        bare = (time.perf_counter() - started) / args.events
        started = time.perf_counter()
        for n in range(args.events):
            outbox.emit("order.created", orders[n % len(orders)])
        emit = (time.perf_counter() - started) / args.events
        started = time.perf_counter()
        while outbox.run_once():
            pass
        deliver = time.perf_counter() - started
        body = sink.body({"id": "evt", "type": "order.created", "occurred_at": "", "order": order_record(orders[0])})
        started = time.perf_counter()
        for _ in range(args.events):
            request = urllib.request.Request(url, data=body, method="POST")
            with urllib.request.urlopen(request) as answer:  # noqa: S310 - a local receiver
                answer.read()
        posts = time.perf_counter() - started
    finally:
        for key in client.scan_iter(match=f"{prefix}:*", count=1000):
            client.delete(key)
        server.shutdown()
    print(f"emit     {emit * 1e6:8.0f} µs per event   baseline RPUSH {bare * 1e6:6.0f} µs  ({emit / bare:.2f}×)")
    print(
        f"deliver  {args.events / deliver:8.0f} events/s      baseline bare POST {args.events / posts:6.0f}/s"
        f"  ({(args.events / deliver) / (args.events / posts):.2f}×)"
    )


if __name__ == "__main__":
    main()
