"""Serve the real app on a loopback port and talk to it over HTTP, as a platform would."""

from __future__ import annotations

import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from werkzeug.serving import make_server

from bot.config import Settings
from handlers.runner.runtime import Runtime
from handlers.web.app import create_app, runtime_of

ORDER_ID = re.compile(r"\b(WO-\d{8}-[A-Z0-9]{5})\b")


@dataclass
class Answer:
    status: int
    body: bytes
    headers: dict[str, str]
    seconds: float

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


@dataclass
class Live:
    runtime: Runtime
    base_url: str

    def call(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        query: dict[str, str] | None = None,
        settle: bool = True,
    ) -> Answer:
        """One HTTP request to the app; by default waits for the background turns it started."""
        url = self.base_url + path + (f"?{urllib.parse.urlencode(query)}" if query else "")
        req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                answer = Answer(resp.status, resp.read(), dict(resp.headers), 0.0)
        except urllib.error.HTTPError as exc:
            answer = Answer(exc.code, exc.read(), dict(exc.headers), 0.0)
        answer.seconds = time.perf_counter() - started
        if settle:
            self.settle()
        return answer

    def settle(self) -> None:
        """Wait until every background turn has finished (and its replies were sent)."""
        self.runtime.drain()

    def delivered(self, timeout: float = 15.0) -> None:
        """Wait until the courier has delivered every order event due now (duty cards, outbound events)."""
        outbox = self.runtime.outbox
        assert outbox is not None, "no DUTY_ROUTES or ORDER_WEBHOOK_URL: nothing is delivered"
        relay = getattr(self.runtime.services.orders, "relay", None)

        def done() -> bool:  # the database's first: an event it hands on is then in Redis until delivered
            return (relay is None or relay.unsent() == 0) and not any(outbox.pending_count().values())

        wait_until(done, timeout, "order events delivered")


def wait_until(check: Any, timeout: float = 15.0, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@contextmanager
def live_app(settings: Settings, **ports: Any) -> Iterator[Live]:
    app = create_app(settings, **ports)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    runtime = runtime_of(app)
    try:
        yield Live(runtime, f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        runtime.drain()
        runtime.stop()


def order_id_in(texts: list[str]) -> str:
    for text in texts:
        if "created" in text or "已创建" in text:
            match = ORDER_ID.search(text)
            if match:
                return match.group(1)
    raise AssertionError(f"no order id in {texts!r}")
