"""A local HTTP server that speaks enough of the OpenAI chat.completions and audio.transcriptions APIs for the
real ``openai`` client.

Scriptable (reply with content, HTTP error, delay, malformed body; one-shot or as the default) and
recording (every request's path, headers and parsed JSON), so tests assert on what the adapter sent.

    with FakeOpenAI() as server:
        server.respond_with('{"resolved": true, "reason": "ok"}')
        vlm = OpenAIVlm(Settings(vlm_base_url=server.base_url, vlm_api_key="sk-test"))
        ...
        assert server.requests[0].image_urls[0].startswith("data:image/jpeg;base64,")

A transcription (``POST /v1/audio/transcriptions``, multipart) is recorded with its form fields and file
(``rec.form``, ``rec.file_name``, ``rec.file_bytes``) and answered ``{"text": DEFAULT_TRANSCRIPT}``, or what
``transcribe_as(text)`` scripts; ``fail_with``, ``delay`` and ``respond_raw`` apply to it as to completions.
"""

from __future__ import annotations

import email.message
import email.parser
import email.policy
import json
import threading
import time
import urllib.request
from collections import deque
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.loopback import LoopbackServer

# Valid both as an analyze answer and as a verify_fixed answer, so a test that does not care gets through.
DEFAULT_CONTENT = json.dumps(
    {
        "alarm_type": "other",
        "description": "A test photo of a site.",
        "severity": "medium",
        "confidence": 0.9,
        "resolved": True,
        "reason": "The problem is no longer visible.",
    }
)
DEFAULT_TRANSCRIPT = "三号楼二层走廊漏水"
TRANSCRIPTION_PATHS = ("/v1/audio/transcriptions", "/audio/transcriptions")


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it; ``json`` is None when the body was not JSON."""

    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes = field(repr=False)
    json: Any
    fetched: tuple[bytes | None, ...] = field(default=(), repr=False)  # see FakeOpenAI.fetch_links

    @property
    def model(self) -> str | None:
        if self.path in TRANSCRIPTION_PATHS:
            return self.form.get("model")
        return self.json.get("model") if isinstance(self.json, dict) else None

    def _parts(self) -> list[email.message.EmailMessage]:
        """A multipart/form-data body's parts, read by the stdlib's MIME parser."""
        head = f"Content-Type: {self.headers.get('content-type', '')}\r\n\r\n".encode()
        form = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + self.body)
        if not form.is_multipart():
            return []
        return [part for part in form.iter_parts() if isinstance(part, email.message.EmailMessage)]

    @property
    def form(self) -> dict[str, str]:
        """A transcription's text fields (model, language, prompt, response_format)."""
        fields = {}
        for part in self._parts():
            if part.get_filename() is None:
                payload = part.get_payload(decode=True)
                fields[str(part.get_param("name", header="content-disposition"))] = (
                    payload.decode() if isinstance(payload, bytes) else ""
                )
        return fields

    @property
    def file_name(self) -> str | None:
        return next((p.get_filename() for p in self._parts() if p.get_filename() is not None), None)

    @property
    def file_bytes(self) -> bytes:
        for part in self._parts():
            if part.get_filename() is not None:
                payload = part.get_payload(decode=True)
                return payload if isinstance(payload, bytes) else b""
        return b""

    @property
    def messages(self) -> list[dict]:
        messages = self.json.get("messages") if isinstance(self.json, dict) else None
        return messages if isinstance(messages, list) else []

    @property
    def parts(self) -> list[dict]:
        """Every content part of every message, in order; a string content counts as one text part."""
        parts: list[dict] = []
        for message in self.messages:
            content = message.get("content")
            if isinstance(content, str):
                parts.append({"type": "text", "text": content, "role": message.get("role")})
            elif isinstance(content, list):
                parts.extend({**p, "role": message.get("role")} for p in content if isinstance(p, dict))
        return parts

    @property
    def image_urls(self) -> list[str]:
        """The image URLs (data: or http:) in the order they were sent."""
        return [p["image_url"]["url"] for p in self.parts if p.get("type") == "image_url"]

    @property
    def text(self) -> str:
        """All text of all messages (system prompt included), joined by newlines."""
        return "\n".join(p.get("text", "") for p in self.parts if p.get("type") == "text")


@dataclass(frozen=True)
class _Behaviour:
    kind: str  # "reply" | "status" | "raw" | "transcript"
    content: str | None = None
    status: int = 200
    body: bytes = b""


class FakeOpenAI(LoopbackServer):
    """Context manager around a threaded loopback server; ``base_url`` ends in ``/v1``.

    Each scripting method takes ``times``: None (the default) changes what every later request gets;
    an integer queues that behaviour for the next ``times`` requests only, ahead of the default.
    """

    name = "openai"

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._requests: list[RecordedRequest] = []
        self._queue: deque[_Behaviour] = deque()
        self._default = _Behaviour("reply", DEFAULT_CONTENT)
        self._delays: deque[float] = deque()
        self._default_delay = 0.0
        self._fetch_links = False

    def handler(self) -> type[BaseHTTPRequestHandler]:
        return _handler_for(self)

    def stop(self) -> None:
        self._closing.set()  # wakes handlers sleeping in a delay
        super().stop()

    @property
    def base_url(self) -> str:
        """``root_url`` + ``/v1``, as OpenAI clients expect; the server answers on both."""
        return f"{self.root_url}/v1"

    # -- scripting ---------------------------------------------------------------------------

    def respond_with(self, content: str | None, *, times: int | None = None) -> FakeOpenAI:
        """Answer 200 with a chat.completion whose message content is ``content`` (None → null)."""
        return self._script(_Behaviour("reply", content), times)

    def fail_with(self, status: int, *, body: Any = None, times: int | None = None) -> FakeOpenAI:
        """Answer HTTP ``status`` with an OpenAI-style error body (or ``body`` as JSON)."""
        payload = body if body is not None else {"error": {"message": f"fake error {status}", "type": "server_error"}}
        return self._script(_Behaviour("status", status=status, body=json.dumps(payload).encode()), times)

    def transcribe_as(self, text: str, *, times: int | None = None) -> FakeOpenAI:
        """Answer a transcription with ``{"text": text}``."""
        return self._script(_Behaviour("transcript", text), times)

    def malformed(self, *, times: int | None = None) -> FakeOpenAI:
        """Answer 200 with a body that is not JSON at all."""
        return self.respond_raw(b"<html>this is not json", times=times)

    def respond_raw(self, body: bytes | dict, *, status: int = 200, times: int | None = None) -> FakeOpenAI:
        """Answer with exactly this body (a dict is JSON-encoded), e.g. a completion with no choices."""
        raw = json.dumps(body).encode() if isinstance(body, dict) else body
        return self._script(_Behaviour("raw", status=status, body=raw), times)

    def delay(self, seconds: float, *, times: int | None = None) -> FakeOpenAI:
        """Sleep before answering (whatever the answer is); ``delay(0)`` clears the default delay."""
        with self._lock:
            if times is None:
                self._default_delay = seconds
            else:
                self._delays.extend([seconds] * times)
        return self

    def fetch_links(self, on: bool = True) -> FakeOpenAI:
        """Fetch every http(s) image URL while the request is open, as a real VLM does; the bytes (None for a
        failed fetch) are in ``RecordedRequest.fetched``, in the order of ``image_urls``."""
        with self._lock:
            self._fetch_links = on
        return self

    def reset(self) -> None:
        """Forget recorded requests and scripted behaviours."""
        with self._lock:
            self._requests.clear()
            self._queue.clear()
            self._delays.clear()
            self._default = _Behaviour("reply", DEFAULT_CONTENT)
            self._default_delay = 0.0
            self._fetch_links = False

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of every request received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def _script(self, behaviour: _Behaviour, times: int | None) -> FakeOpenAI:
        with self._lock:
            if times is None:
                self._default = behaviour
            else:
                self._queue.extend([behaviour] * times)
        return self

    # -- serving (called from handler threads) -----------------------------------------------

    def _take(self, request: RecordedRequest) -> tuple[float, _Behaviour]:
        with self._lock:
            self._requests.append(request)
            delay = self._delays.popleft() if self._delays else self._default_delay
            behaviour = self._queue.popleft() if self._queue else self._default
        return delay, behaviour

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._closing.wait(seconds)


def _completion(content: str | None, model: str) -> bytes:
    return json.dumps(
        {
            "id": f"chatcmpl-fake-{time.monotonic_ns()}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": None},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
    ).encode()


def _fetch(url: str) -> bytes | None:
    if not url.startswith(("http://", "https://")):
        return None
    try:
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(url, timeout=5) as response:
            data: bytes = response.read()
            return data
    except OSError:
        return None


def _handler_for(fake: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # one request per connection: no keep-alive state to get wrong

        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            pass

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0].rstrip("/")
            if path.endswith("/models") or path == "/models":
                self._send(200, json.dumps({"object": "list", "data": [{"id": "fake", "object": "model"}]}).encode())
            else:
                self._not_found()

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length > 0 else b""
            try:
                parsed = json.loads(body) if body else None
            except ValueError:
                parsed = None
            path = self.path.split("?", 1)[0].rstrip("/")
            if path in TRANSCRIPTION_PATHS:
                self._transcription(path, body)
                return
            if path not in ("/v1/chat/completions", "/chat/completions"):
                self._not_found()
                return
            recorded = RecordedRequest(
                method="POST",
                path=path,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
                json=parsed,
            )
            if fake._fetch_links:
                recorded = replace(recorded, fetched=tuple(_fetch(url) for url in recorded.image_urls))
            delay, behaviour = fake._take(recorded)
            fake._sleep(delay)
            if not isinstance(parsed, dict):
                self._send(400, json.dumps({"error": {"message": "body is not a JSON object"}}).encode())
            elif behaviour.kind == "reply":
                self._send(200, _completion(behaviour.content, str(parsed.get("model", "fake"))))
            else:
                self._send(behaviour.status, behaviour.body)

        def _transcription(self, path: str, body: bytes) -> None:
            recorded = RecordedRequest("POST", path, {k.lower(): v for k, v in self.headers.items()}, body, None)
            delay, behaviour = fake._take(recorded)
            fake._sleep(delay)
            if recorded.file_name is None or not recorded.form.get("model"):
                self._send(400, json.dumps({"error": {"message": "file and model are required"}}).encode())
            elif behaviour.kind == "transcript":
                self._send(200, json.dumps({"text": behaviour.content}, ensure_ascii=False).encode())
            elif behaviour.kind == "reply":  # not scripted for speech: the default transcript
                self._send(200, json.dumps({"text": DEFAULT_TRANSCRIPT}, ensure_ascii=False).encode())
            else:
                self._send(behaviour.status, behaviour.body)

        def _not_found(self) -> None:
            self._send(404, json.dumps({"error": {"message": f"no route {self.path}"}}).encode())

        def _send(self, status: int, body: bytes) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)
            except OSError:
                pass  # the client gave up (a timeout test); nothing to tell it

    return Handler
