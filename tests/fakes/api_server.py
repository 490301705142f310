"""The loopback HTTP server the fake platform APIs are built on: every request recorded, endpoints answered by
``on_<endpoint>`` methods, and one-shot scripted answers (``script(endpoint, answer, times=1)``) for the failure
modes: ``rate_limited()``, ``server_error()``, ``html_login_page()`` or any ``Answer``."""

from __future__ import annotations

import email.message
import email.parser
import email.policy
import itertools
import json
import threading
import time
import urllib.parse
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.loopback import LoopbackServer

HTML_LOGIN = (
    b"<!DOCTYPE html><html><head><title>Slack</title></head>"
    b"<body><form action='/signin'>Sign in to your workspace</form></body></html>"
)


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased
    body: bytes = field(repr=False)
    endpoint: str = ""

    @property
    def json(self) -> Any:
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json; charset=utf-8"),)


def json_answer(data: Any, status: int = 200, **headers: str) -> Answer:
    extra = tuple((k.replace("_", "-"), v) for k, v in headers.items())
    return Answer(
        status,
        json.dumps(data, ensure_ascii=False).encode(),
        (("Content-Type", "application/json; charset=utf-8"), *extra),
    )


def rate_limited(retry_after: int = 1, body: Any = None) -> Answer:
    return json_answer(
        body if body is not None else {"ok": False, "error": "ratelimited"}, 429, Retry_After=str(retry_after)
    )


def server_error() -> Answer:
    return Answer(502, b"<html>bad gateway</html>", (("Content-Type", "text/html"),))


def html_login_page() -> Answer:
    """What Slack serves for a file URL without valid auth: a sign-in page, with status 200."""
    return Answer(200, HTML_LOGIN, (("Content-Type", "text/html; charset=utf-8"),))


class FakeServer(LoopbackServer):
    """A threaded loopback server; subclasses route requests to endpoint names and answer them."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._requests: list[Recorded] = []
        self._scripts: dict[str, deque[Answer]] = defaultdict(deque)
        self._delays: dict[str, deque[float]] = defaultdict(deque)
        self._counter = itertools.count(1)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        return _handler_for(self)

    # -- scripting and records ------------------------------------------------------------------------
    def script(self, endpoint: str, answer: Answer, times: int = 1) -> Any:
        """Answer the next ``times`` calls to ``endpoint`` with ``answer`` instead of the normal one."""
        with self._lock:
            self._scripts[endpoint].extend([answer] * times)
        return self

    def slow(self, endpoint: str, seconds: float, times: int = 1) -> Any:
        """Answer the next ``times`` calls to ``endpoint`` only after ``seconds`` (a slow API, a long network)."""
        with self._lock:
            self._delays[endpoint].extend([seconds] * times)
        return self

    @property
    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self._requests)

    def calls(self, endpoint: str) -> list[Recorded]:
        return [r for r in self.requests if r.endpoint == endpoint]

    def next_id(self) -> int:
        return next(self._counter)

    # -- serving ----------------------------------------------------------------------------------------
    def _serve(self, rec: Recorded) -> Answer:
        endpoint = self.route(rec.method, rec.path)
        rec = Recorded(rec.method, rec.path, rec.query, rec.headers, rec.body, endpoint)
        with self._lock:
            self._requests.append(rec)
            scripted = self._scripts[endpoint].popleft() if self._scripts[endpoint] else None
            delay = self._delays[endpoint].popleft() if self._delays[endpoint] else 0.0
        time.sleep(delay)
        if scripted is not None:
            return scripted
        if not endpoint:
            return json_answer({"error": "not found"}, 404)
        with self._lock:
            return getattr(self, f"on_{endpoint}")(rec)

    def route(self, method: str, path: str) -> str:
        raise NotImplementedError


def _handler_for(fake: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length > 0 else b""
            parts = urllib.parse.urlsplit(self.path)
            rec = Recorded(
                self.command,
                parts.path,
                dict(urllib.parse.parse_qsl(parts.query)),
                {k.lower(): v for k, v in self.headers.items()},
                body,
            )
            answer = fake._serve(rec)
            self.send_response(answer.status)
            for name, value in answer.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

        do_GET = do_POST = do_PATCH = _handle

    return Handler


def bearer(rec: Recorded) -> str:
    auth = rec.headers.get("authorization", "")
    return auth[7:] if auth.startswith("Bearer ") else ""


def form_parts(rec: Recorded) -> list[email.message.EmailMessage]:
    """The parts of a multipart/form-data body, read by the stdlib's MIME parser."""
    head = f"Content-Type: {rec.headers.get('content-type', '')}\r\n\r\n".encode()
    form = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + rec.body)
    return [part for part in form.iter_parts() if isinstance(part, email.message.EmailMessage)]
