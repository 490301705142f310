"""The whole app on real parts (as ``test_end_to_end``) at its edges: duplicate deliveries, oversized and odd bodies,
session expiry and the history cap on real Redis, Redis down, readiness, the embedded defaults, a real HTTP server.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from bot.config import Settings
from bot.replies import say
from handlers.web.app import create_app, runtime_of
from tests.fakes.s3_server import loopback_opener
from tests.support.e2e import (
    LEAK,
    REPORTER,
    SESSION,
    USER,
    WEBHOOK_AUTH,
    Stack,
    Web,
    answer,
    authorized_client,
    b64,
    choices,
    flask_post,
    report,
)
from tests.support.engine import photo

pytestmark = pytest.mark.integration


# -- delivery edge cases ------------------------------------------------------------------------------------
def test_duplicate_message_id_on_real_redis_makes_one_order(stack: Stack) -> None:
    web = stack.web
    stack.vlm.respond_with(answer(LEAK), times=1)
    web.image(photo(9), message_id="m-photo")
    web.text("1号门岗", message_id="m-where")
    first_photo_requests = len(stack.vlm.requests)

    # the photo redelivered: same answer, not analysed again, state unchanged
    redelivered = web.image(photo(9), message_id="m-photo")
    assert redelivered["state"] == "waiting_location"  # the first answer, replayed
    assert len(stack.vlm.requests) == first_photo_requests
    assert stack.session_json()["state"] == "waiting_confirm"

    answers: list[dict] = []
    errors: list[BaseException] = []

    def confirm() -> None:
        try:
            answers.append(Web(flask_post(stack.app)).text("确认", message_id="m-confirm"))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=confirm) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    assert errors == []
    assert len(answers) == 3
    order_ids = {a["order_id"] for a in answers}
    assert len(order_ids) == 1 and None not in order_ids
    assert all(a == answers[0] for a in answers)
    assert [o.id for o in stack.orders.open_for(REPORTER)] == list(order_ids)
    assert stack.session_json()["turns"] == 3  # photo, location, one confirm
    # a fresh "确认" in idle is just text: no second order
    later = web.text("确认", message_id="m-confirm-2")
    assert later["order_id"] is None and later["state"] == "idle"
    assert len(stack.orders.open_for(REPORTER)) == 1


def test_oversized_image_is_413_with_a_reply_and_stores_nothing(build: Callable[..., Stack]) -> None:
    stack = build(max_image_bytes=20_000, max_body_bytes=200_000)
    big = photo(10, size=(900, 700), quality=95)
    assert len(big) > 20_000 and len(b64(big)) < 200_000

    status, body = stack.web.post({"user_id": USER, "image_base64": b64(big)})

    assert status == 413
    assert body["replies"] == [say("zh", "image_too_large", limit_mb=round(20_000 / 1024 / 1024, 1))]
    assert "error" in body
    assert stack.objects() == [] and stack.vlm.requests == []
    assert stack.session_json() is None

    # a body over the HTTP limit is refused before it is parsed, still as JSON
    response = authorized_client(stack.app).post(
        "/webhook/generic",
        data=json.dumps({"user_id": USER, "image_base64": "A" * 300_000}),
        content_type="application/json",
    )
    assert response.status_code == 413 and "error" in response.get_json()


def test_non_image_upload_is_200_with_a_reply(stack: Stack) -> None:
    pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer\n%%EOF\n"
    answered = stack.web.image(pdf)
    assert answered["replies"] == [say("zh", "not_image")]
    assert answered["state"] == "idle"
    assert stack.objects() == [] and stack.vlm.requests == []


ODD_BODIES: list[Any] = [
    [],
    "text",
    12,
    None,
    {},
    {"user_id": USER},
    {"user_id": 5, "text": "hi"},
    {"user_id": "a:b", "text": "hi"},
    {"user_id": "x" * 129, "text": "hi"},
    {"user_id": USER, "text": ""},
    {"user_id": USER, "text": 5},
    {"user_id": USER, "text": "x" * 5000},
    {"user_id": USER, "text": "hi", "image_base64": "AAAA"},
    {"user_id": USER, "image_base64": "***not base64***"},
    {"user_id": USER, "image_base64": ""},
    {"user_id": USER, "location": {"latitude": "NaN", "longitude": 1}},
    {"user_id": USER, "location": {"latitude": 91, "longitude": 1}},
    {"user_id": USER, "location": [1, 2]},
    {"user_id": USER, "location": {"latitude": True, "longitude": 1}},
    {"user_id": USER, "text": "hi", "message_id": {}},
    {"user_id": USER, "text": "hi", "message_id": True},
    {"user_id": USER, "text": "hi", "tenant": ""},
    {"user_id": USER, "text": "\u0000\ud800"},
    {"user_id": USER, "text": "结单 WO-19990101-AAAAA"},
    {"user_id": "\udc00", "text": "hi"},
    {"user_id": USER, "text": "hi", "message_id": "m\ud800"},
    {"user_id": USER, "location": {"latitude": 1, "longitude": 2, "label": "\udfff"}},
]


@pytest.mark.parametrize("body", ODD_BODIES, ids=range(len(ODD_BODIES)))
def test_odd_bodies_are_answered_never_500(stack: Stack, body: Any) -> None:
    # json.dumps escapes lone surrogates as a real client would; the app's own encoder would not.
    response = authorized_client(stack.app).post(
        "/webhook/generic", data=json.dumps(body), content_type="application/json"
    )
    assert response.status_code in (200, 400), (response.status_code, response.get_data()[:200])
    assert response.is_json
    data = response.get_json()
    assert ("replies" in data) if response.status_code == 200 else ("error" in data)


def test_other_methods_and_raw_bodies_are_not_500(stack: Stack) -> None:
    client = authorized_client(stack.app)
    assert client.get("/webhook/generic").status_code == 405
    for raw in (b"", b"{", b"\xff\xfe\x00", b'{"user_id": "a", "text": "\\ud800"}'):
        response = client.post("/webhook/generic", data=raw, content_type="application/json")
        assert response.status_code in (200, 400), (raw, response.status_code)
    assert client.post("/webhook/generic", data=b"user_id=a", content_type="text/plain").status_code == 400


# -- session lifetime and history on real Redis ------------------------------------------------------------------
def test_ttl_expiry_on_real_redis_says_the_report_timed_out(build: Callable[..., Stack]) -> None:
    stack = build(session_ttl_seconds=1)
    stack.vlm.respond_with(answer(LEAK), times=1)
    assert stack.web.image(photo(13))["state"] == "waiting_location"
    assert stack.redis.ttl(stack.runtime.store.session_redis_key(SESSION)) <= 1

    time.sleep(2.2)
    assert stack.session_json() is None

    after = stack.web.text("状态")
    assert after["state"] == "idle"
    assert after["replies"] == [
        # the time the session really had (SESSION_TTL_SECONDS=1), not a rounded "1 minute"
        say("zh", "timed_out", flow=say("zh", "flow_report"), span=say("zh", "span_seconds", count=1)),
        say("zh", "status_idle", alarm=""),
    ]
    # said once: the next message is an ordinary one
    assert stack.web.text("状态")["replies"] == [say("zh", "status_idle", alarm="")]


def test_history_cap_on_real_redis_and_history_reaches_the_vlm(build: Callable[..., Stack]) -> None:
    stack = build(history_max_turns=10)
    for n in range(1, 15):
        stack.web.text(f"message {n:02d}")  # no command: one answer each (the hint)
    stack.vlm.respond_with(answer(LEAK), times=1)
    stack.web.image(photo(14))  # the 15th turn

    session = stack.session_json()
    assert session is not None
    history = session["history"]
    assert session["turns"] == 15
    assert len(history) == 20
    user_texts = [h["text"] for h in history if h["role"] == "user" and h["kind"] == "text"]
    # 14 text turns × 2 messages + the photo turn's 3 = 31 messages: the oldest 11 are gone
    assert user_texts == [f"message {n:02d}" for n in range(7, 15)]
    assert history[-3]["role"] == "user" and history[-3]["kind"] == "image" and history[-3]["image_key"]
    assert [h["role"] for h in history[-2:]] == ["bot", "bot"]
    (request,) = stack.vlm.requests
    assert "user: message 14" in request.text and "user: message 12" in request.text
    assert "message 01" not in request.text


# -- infrastructure ----------------------------------------------------------------------------------------------
def _closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def test_redis_down_is_503_never_500(build: Callable[..., Stack]) -> None:
    stack = build(redis_url=f"redis://127.0.0.1:{_closed_port()}/0")
    client = authorized_client(stack.app)

    for body in (
        {"user_id": USER, "text": "帮助"},
        {"user_id": USER, "text": "确认", "message_id": "m-1"},
        {"user_id": USER, "image_base64": b64(photo(15))},
        {"user_id": USER, "location": {"latitude": 1, "longitude": 2, "label": "x"}},
    ):
        response = client.post("/webhook/generic", json=body)
        assert response.status_code == 503, body
        assert response.is_json and "error" in response.get_json()
        assert response.headers.get("Retry-After")

    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.get_json()["checks"]["database"] == "ok"
    assert ready.get_json()["checks"]["redis"] != "ok"
    assert client.get("/healthz").status_code == 200
    # bad input is still a 400: validation does not need the store
    assert client.post("/webhook/generic", data=b"{not json", content_type="application/json").status_code == 400
    assert stack.vlm.requests == []


def test_readyz_is_200_with_everything_up(stack: Stack) -> None:
    ready = authorized_client(stack.app).get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["checks"] == {"redis": "ok", "database": "ok"}


def test_embedded_default_without_redis_url(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    images = tmp_path / "images"
    settings = Settings(storage_dir=str(images), database_url=f"sqlite:///{tmp_path / 'orders.db'}")
    assert settings.redis_url == "" and settings.vlm_base_url == "" and settings.s3_bucket == ""

    with caplog.at_level(logging.WARNING):
        app = create_app(settings)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "REDIS_URL" in r.getMessage()]
    assert len(warnings) == 1
    assert "process" in warnings[0].getMessage()

    user = f"embedded-{uuid.uuid4().hex[:8]}"
    web = Web(flask_post(app), user=user)
    picture = photo(16)
    try:
        first = web.image(picture)
        assert first["replies"] == [say("zh", "photo_received"), say("zh", "ask_type", choices=choices(settings))]
        assert web.text("1")["replies"][0] == say("zh", "type_set", alarm_type=settings.alarm_type_list[0])
        assert web.text("东门")["state"] == "waiting_confirm"
        done = web.text("确认")
        order = runtime_of(app).services.orders.get(done["order_id"])
        assert order is not None and order.alarm_type == settings.alarm_type_list[0]
        assert (images / order.report_photo_key).read_bytes() == picture
        assert app.test_client().get("/readyz").status_code == 200
    finally:
        runtime_of(app).services.orders.dispose()


def test_through_a_real_http_server(stack: Stack) -> None:
    server = make_server("127.0.0.1", 0, stack.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    opener = loopback_opener()

    def post(body: dict) -> tuple[int, dict]:
        request = urllib.request.Request(
            f"{base}/webhook/generic",
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json", **WEBHOOK_AUTH},
        )
        try:
            with opener.open(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    try:
        web = Web(post)
        with opener.open(f"{base}/healthz", timeout=5) as response:
            assert response.status == 200
        order_id = report(stack, photo(17), web=web)
        assert stack.order(order_id).report_photo_key in stack.objects()
        status, body = post({"user_id": "", "text": "hi"})
        assert status == 400 and "user_id" in body["error"]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
