"""The whole app from ``create_app(settings)`` with real parts, driven over HTTP on ``/webhook/generic``.

Real Redis (``$REDIS_URL``, a unique prefix per test, wiped afterwards), the real ``openai`` client
against the local FakeOpenAI server, real ``boto3`` against a local S3 (moto's server mode), work
orders in SQLite (and once in PostgreSQL, in a schema of its own). Nothing of ours is replaced:
the tests assert on what the user gets back, what the fake servers received and what was stored.
"""

from __future__ import annotations

import base64
import json
import logging
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from bot.config import Settings
from bot.orders import SqlWorkOrders
from bot.ports import Order, Reporter
from bot.replies import say
from bot.session import record_json
from handlers.app import create_app, runtime_of
from handlers.runtime import Runtime
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.s3_server import LocalS3, loopback_opener
from tests.support.engine import REDIS_URL, photo, wipe_prefix

pytestmark = pytest.mark.integration

USER = "alice"
SESSION = f"generic:default:{USER}"
REPORTER = Reporter("generic", "default", USER)

LEAK = {
    "alarm_type": "漏水",
    "description": "泵房地面有大片积水，水从管道接头渗出。",
    "severity": "high",
    "confidence": 0.92,
}
FIXED = {"resolved": True, "reason": "地面已干燥，接头已更换。"}
NOT_FIXED = {"resolved": False, "reason": "地面仍有积水。"}


def answer(values: dict[str, Any]) -> str:
    return json.dumps(values, ensure_ascii=False)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def data_url_bytes(url: str) -> bytes:
    head, _, payload = url.partition(",")
    assert head.startswith("data:image/") and head.endswith(";base64"), head
    return base64.b64decode(payload)


# -- the stack ------------------------------------------------------------------------------------------------
class Web:
    """One user of the generic webhook, through any ``post(body) -> (status, json)`` transport."""

    def __init__(self, post: Callable[[dict], tuple[int, dict]], user: str = USER, tenant: str = "default") -> None:
        self.post, self.user, self.tenant = post, user, tenant

    def send(self, message_id: str | None = None, **fields: Any) -> dict:
        body: dict[str, Any] = {"user_id": self.user, "tenant": self.tenant, **fields}
        if message_id is not None:
            body["message_id"] = message_id
        status, data = self.post(body)
        assert status == 200, (status, data)
        return data

    def text(self, text: str, message_id: str | None = None) -> dict:
        return self.send(message_id, text=text)

    def image(self, data: bytes, message_id: str | None = None) -> dict:
        return self.send(message_id, image_base64=b64(data))

    def location(self, label: str, lat: float, lng: float) -> dict:
        return self.send(location={"latitude": lat, "longitude": lng, "label": label})


WEBHOOK_TOKEN = "e2e-generic-token"
WEBHOOK_AUTH = {"Authorization": f"Bearer {WEBHOOK_TOKEN}"}


def authorized_client(app: Flask) -> FlaskClient:
    """A client that sends the generic webhook's bearer token (needed whenever REDIS_URL is set)."""
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = WEBHOOK_AUTH["Authorization"]
    return client


def flask_post(app: Flask) -> Callable[[dict], tuple[int, dict]]:
    client = authorized_client(app)

    def post(body: dict) -> tuple[int, dict]:
        # Encoded as a client would (stdlib json escapes non-ASCII, so lone surrogates travel as \ud800).
        response = client.post("/webhook/generic", data=json.dumps(body), content_type="application/json")
        return response.status_code, response.get_json()

    return post


@dataclass
class Stack:
    app: Flask
    settings: Settings
    vlm: FakeOpenAI
    s3: LocalS3
    redis: redis.Redis
    web: Web = field(init=False)

    def __post_init__(self) -> None:
        self.web = Web(flask_post(self.app))

    @property
    def runtime(self) -> Runtime:
        return runtime_of(self.app)

    @property
    def orders(self) -> Any:
        return self.runtime.services.orders

    def session_json(self, skey: str = SESSION) -> dict | None:
        raw = self.redis.get(self.runtime.store.session_redis_key(skey))
        return json.loads(record_json(raw)) if raw is not None else None

    def objects(self) -> list[str]:
        """This test's objects in the bucket (the bucket is shared by the module, the prefix is not)."""
        return [k for k in self.s3.objects() if k.startswith(self.settings.s3_prefix)]

    def object_bytes(self, key: str) -> bytes:
        return self.s3.client().get_object(Bucket=self.s3.bucket, Key=key)["Body"].read()

    def order(self, order_id: str) -> Order:
        found = self.orders.get(order_id)
        assert found is not None, order_id
        return found


@pytest.fixture(scope="module")
def s3() -> Iterator[LocalS3]:
    """One local S3 for the module (it takes a while to start); each test writes under its own prefix."""
    with LocalS3() as server:
        yield server


def base_settings(tmp_path: Path, vlm: FakeOpenAI, s3: LocalS3) -> Settings:
    tag = uuid.uuid4().hex[:10]
    return Settings(
        redis_url=REDIS_URL,
        generic_webhook_token=WEBHOOK_TOKEN,
        redis_prefix=f"e2e{tag}",
        lock_timeout_seconds=5,
        database_url=f"sqlite:///{tmp_path / f'orders-{tag}.db'}",
        vlm_base_url=vlm.base_url,
        vlm_api_key="sk-e2e",
        vlm_model="vlm-e2e-model",
        vlm_timeout_seconds=5,
        s3_bucket=s3.bucket,
        s3_endpoint_url=s3.endpoint_url,
        s3_region="us-east-1",
        s3_prefix=f"e2e-{tag}/",
        storage_dir=str(tmp_path / "unused-images"),
    )


@pytest.fixture
def build(
    tmp_path: Path, fake_openai: FakeOpenAI, s3: LocalS3, redis_client: redis.Redis
) -> Iterator[Callable[..., Stack]]:
    """Build the app from Settings (changes as keyword arguments; ``orders=`` replaces the repository)."""
    stacks: list[Stack] = []

    def make(orders: SqlWorkOrders | None = None, **changes: Any) -> Stack:
        settings = base_settings(tmp_path, fake_openai, s3).with_(**changes)
        app = create_app(settings, **({"orders": orders} if orders is not None else {}))
        stack = Stack(app, settings, fake_openai, s3, redis_client)
        stacks.append(stack)
        return stack

    yield make
    for stack in stacks:
        stack.runtime.stop()
        stack.orders.dispose()
        stack.runtime.store.redis.close()
        wipe_prefix(redis_client, stack.settings.redis_prefix)


@pytest.fixture
def stack(build: Callable[..., Stack]) -> Stack:
    return build()


def choices(settings: Settings) -> str:
    return "\n".join(f"{i}. {name}" for i, name in enumerate(settings.alarm_type_list, 1))


def report(stack: Stack, picture: bytes, web: Web | None = None) -> str:
    """Photo → location → 确认 with a scripted analysis; the new order's id."""
    web = web or stack.web
    stack.vlm.respond_with(answer(LEAK), times=1)
    assert web.image(picture)["state"] == "waiting_location"
    assert web.text("3号楼地下一层泵房")["state"] == "waiting_confirm"
    done = web.text("确认")
    assert done["state"] == "idle" and done["order_id"], done
    return done["order_id"]


# -- report and close --------------------------------------------------------------------------------------
def test_report_flow_end_to_end(stack: Stack) -> None:
    web, settings = stack.web, stack.settings
    picture = photo(1)
    stack.vlm.respond_with(answer(LEAK))

    first = web.image(picture)

    assert first["state"] == "waiting_location"
    assert first["session"] == SESSION and first["order_id"] is None
    assert first["replies"] == [
        say("zh", "analysis", alarm_type="漏水", severity=say("zh", "severity_high"), description=LEAK["description"]),
        say("zh", "ask_location"),
    ]
    (request,) = stack.vlm.requests
    assert request.model == "vlm-e2e-model"
    assert request.headers["authorization"] == "Bearer sk-e2e"
    (url,) = request.image_urls
    assert url.startswith("data:image/jpeg;base64,")
    assert data_url_bytes(url) == picture

    located = web.location("3号楼地下一层泵房", 31.2304, 121.4737)
    assert located["state"] == "waiting_confirm"
    (summary,) = located["replies"]
    assert "漏水" in summary and "3号楼地下一层泵房" in summary and "31.230400,121.473700" in summary

    done = web.text("确认")

    assert done["state"] == "idle"
    order_id = done["order_id"]
    assert len(done["replies"]) == 1 and done["replies"][0].startswith(f"工单已创建：{order_id}（")
    (photo_key,) = stack.objects()
    assert stack.object_bytes(photo_key) == picture
    assert stack.s3.head(photo_key)["ContentType"] == "image/jpeg"
    order = stack.order(order_id)
    assert order.status == "open"
    assert order.report_photo_key == photo_key
    assert (order.alarm_type, order.severity, order.description) == ("漏水", "high", LEAK["description"])
    assert (order.location_text, order.latitude, order.longitude) == ("3号楼地下一层泵房", 31.2304, 121.4737)
    assert order.reporter == REPORTER
    assert [h["role"] for h in order.history][:2] == ["user", "bot"]
    assert any(h.get("image_key") == photo_key for h in order.history)
    assert len(stack.vlm.requests) == 1  # location and confirm do not call the VLM

    session = stack.session_json()
    assert session is not None and session["state"] == "idle" and session["pending"] == {}
    assert session["v"] == 1 and session["turns"] == 3
    ttl = stack.redis.ttl(stack.runtime.store.session_redis_key(SESSION))
    assert 0 < ttl <= settings.session_ttl_seconds
    # images are kept as storage keys, never as bytes
    assert b64(picture)[:40] not in json.dumps(session)


def test_close_flow_sends_both_photos_and_closes_with_the_vlm_reason(stack: Stack) -> None:
    web = stack.web
    report_photo, not_fixed_photo, fixed_photo = photo(1), photo(2), photo(3)
    order_id = report(stack, report_photo)
    stack.vlm.reset()

    asked = web.text(f"结单 {order_id.lower()}")
    assert asked["state"] == "waiting_close_photo"
    assert order_id in asked["replies"][0]

    # the report photo sent again is refused without asking the VLM
    same = web.image(report_photo)
    assert same["replies"] == [say("zh", "close_same_photo")]
    assert same["state"] == "waiting_close_photo"
    assert stack.vlm.requests == []

    stack.vlm.respond_with(answer(NOT_FIXED), times=1)
    waiting = web.image(not_fixed_photo)
    assert waiting["state"] == "waiting_close_photo" and waiting["order_id"] is None
    assert waiting["replies"] == [say("zh", "close_not_resolved", reason=NOT_FIXED["reason"])]
    assert stack.order(order_id).status == "open"

    stack.vlm.respond_with(answer(FIXED), times=1)
    closed = web.image(fixed_photo)

    assert closed["state"] == "idle"
    assert closed["order_id"] == order_id
    assert closed["replies"] == [say("zh", "close_resolved", order_id=order_id, reason=FIXED["reason"])]
    verify = stack.vlm.requests[-1]
    assert verify.model == "vlm-e2e-model"
    first, second = verify.image_urls  # exactly two, the report photo first
    assert data_url_bytes(first) == report_photo
    assert data_url_bytes(second) == fixed_photo
    assert LEAK["description"] in verify.text
    order = stack.order(order_id)
    assert order.status == "closed" and order.closed_at is not None
    assert order.vlm_resolved is True and order.vlm_reason == FIXED["reason"]
    assert order.close_photo_key in stack.objects()
    assert stack.object_bytes(order.close_photo_key) == fixed_photo
    assert stack.session_json()["state"] == "idle"

    again = web.text(f"结单 {order_id}")
    assert again["state"] == "idle"
    assert again["replies"] == [say("zh", "order_not_open", order_id=order_id, status=say("zh", "status_closed"))]


def test_report_and_close_with_postgres_orders(build: Callable[..., Stack], pg_orders: SqlWorkOrders) -> None:
    stack = build(orders=pg_orders)
    order_id = report(stack, photo(11))
    assert stack.web.text(f"结单 {order_id}")["state"] == "waiting_close_photo"
    stack.vlm.respond_with(answer(FIXED), times=1)
    closed = stack.web.image(photo(12))
    assert closed["order_id"] == order_id

    with pg_orders.engine.connect() as conn:
        row = conn.exec_driver_sql(
            "SELECT status, alarm_type, report_photo_key, close_photo_key, vlm_reason, reporter_user, history"
            " FROM work_orders WHERE id = %(id)s",
            {"id": order_id},
        ).one()
    assert row.status == "closed" and row.alarm_type == "漏水" and row.reporter_user == USER
    assert sorted([row.report_photo_key, row.close_photo_key]) == stack.objects()
    assert row.vlm_reason == FIXED["reason"]
    assert isinstance(row.history, list) and row.history
    assert authorized_client(stack.app).get("/readyz").status_code == 200


@pytest.fixture
def pg_orders() -> Iterator[SqlWorkOrders]:
    """Orders on the local PostgreSQL in a schema of their own (see test_orders_postgres.py)."""
    import psycopg
    from sqlalchemy.engine import make_url

    url = "postgresql://postgres@127.0.0.1:5432/test"
    schema = f"wo_e2e_{uuid.uuid4().hex[:12]}"
    libpq = make_url(url).render_as_string(hide_password=False)
    try:
        admin = psycopg.connect(libpq, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        pytest.fail(f"PostgreSQL is not reachable at {url}: {exc}", pytrace=False)
    try:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        repo = SqlWorkOrders(url, engine_options={"connect_args": {"options": f"-csearch_path={schema}"}})
        try:
            yield repo
        finally:
            repo.dispose()
    finally:
        admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.close()


# -- VLM failures -------------------------------------------------------------------------------------------
def _timeout(vlm: FakeOpenAI) -> None:
    vlm.delay(2, times=1)


def _http_500(vlm: FakeOpenAI) -> None:
    vlm.fail_with(500, times=1)


def _prose(vlm: FakeOpenAI) -> None:
    vlm.respond_with("I think this is a water leak, but I am not sure.", times=1)


def _not_json_body(vlm: FakeOpenAI) -> None:
    vlm.malformed(times=1)


@pytest.mark.parametrize("failure", [_timeout, _http_500, _prose, _not_json_body], ids=lambda f: f.__name__[1:])
def test_vlm_failure_offers_the_type_list_and_keeps_the_photo(
    build: Callable[..., Stack], failure: Callable[[FakeOpenAI], None]
) -> None:
    stack = build(vlm_timeout_seconds=0.5)
    web, settings = stack.web, stack.settings
    failure(stack.vlm)
    picture = photo(5)

    started = time.monotonic()
    first = web.image(picture)
    elapsed = time.monotonic() - started

    assert elapsed < 1.8  # a 2 s VLM delay is cut at the 0.5 s timeout
    assert first["state"] == "waiting_location"
    assert first["replies"] == [say("zh", "vlm_failed"), say("zh", "ask_type", choices=choices(settings))]
    (key,) = stack.objects()
    assert stack.object_bytes(key) == picture
    pending = stack.session_json()["pending"]
    assert pending["image_key"] == key and pending["analysis_failed"] == "error"

    picked = web.text("2")
    assert picked["replies"][0] == say("zh", "type_set", alarm_type=settings.alarm_type_list[1])
    assert picked["state"] == "waiting_location"
    assert web.text("2号楼配电房")["state"] == "waiting_confirm"
    done = web.text("确认")
    order = stack.order(done["order_id"])
    assert order.alarm_type == settings.alarm_type_list[1] == "漏水"
    assert order.report_photo_key == key
    assert len(stack.vlm.requests) == 1


def test_retry_after_a_vlm_failure_analyzes_the_kept_photo(stack: Stack) -> None:
    stack.vlm.fail_with(503, times=1)
    picture = photo(6)
    assert stack.web.image(picture)["replies"][0] == say("zh", "vlm_failed")
    stack.vlm.respond_with(answer(LEAK), times=1)

    again = stack.web.text("重试")

    assert again["state"] == "waiting_location"
    assert "漏水" in again["replies"][0]
    first, second = stack.vlm.requests
    assert data_url_bytes(first.image_urls[0]) == data_url_bytes(second.image_urls[0]) == picture
    assert len(stack.objects()) == 1


def test_url_image_mode_sends_a_presigned_url_of_the_local_s3(build: Callable[..., Stack]) -> None:
    stack = build(vlm_image_mode="url")
    report_photo, fixed_photo = photo(7), photo(8)

    order_id = report(stack, report_photo)

    (url,) = stack.vlm.requests[0].image_urls
    endpoint = urlsplit(stack.s3.endpoint_url)
    sent = urlsplit(url)
    assert (sent.scheme, sent.hostname, sent.port) == (endpoint.scheme, endpoint.hostname, endpoint.port)
    assert "X-Amz-Signature=" in sent.query
    (key,) = stack.objects()
    assert key in sent.path
    # the fake VLM never fetches it, but the URL does fetch the photo from the local S3
    with loopback_opener().open(url, timeout=5) as response:
        assert response.read() == report_photo

    assert stack.web.text(f"结单 {order_id}")["state"] == "waiting_close_photo"
    stack.vlm.respond_with(answer(FIXED), times=1)
    assert stack.web.image(fixed_photo)["order_id"] == order_id
    before, after = stack.vlm.requests[-1].image_urls
    assert not before.startswith("data:") and not after.startswith("data:")
    with loopback_opener().open(before, timeout=5) as response:
        assert response.read() == report_photo
    with loopback_opener().open(after, timeout=5) as response:
        assert response.read() == fixed_photo


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
        say("zh", "timed_out", flow=say("zh", "flow_report"), minutes=1),
        say("zh", "status_idle", alarm=""),
    ]
    # said once: the next message is an ordinary one
    assert stack.web.text("状态")["replies"] == [say("zh", "status_idle", alarm="")]


def test_history_cap_on_real_redis_and_history_reaches_the_vlm(build: Callable[..., Stack]) -> None:
    stack = build(history_max_turns=10)
    for n in range(1, 15):
        stack.web.text(f"note {n:02d}")
    stack.vlm.respond_with(answer(LEAK), times=1)
    stack.web.image(photo(14))  # the 15th turn

    session = stack.session_json()
    assert session is not None
    history = session["history"]
    assert session["turns"] == 15
    assert len(history) == 20
    user_texts = [h["text"] for h in history if h["role"] == "user" and h["kind"] == "text"]
    # 14 text turns × 2 messages + the photo turn's 3 = 31 messages: the oldest 11 are gone
    assert user_texts == [f"note {n:02d}" for n in range(7, 15)]
    assert history[-3]["role"] == "user" and history[-3]["kind"] == "image" and history[-3]["image_key"]
    assert [h["role"] for h in history[-2:]] == ["bot", "bot"]
    (request,) = stack.vlm.requests
    assert "user: note 14" in request.text and "user: note 12" in request.text
    assert "note 01" not in request.text


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
