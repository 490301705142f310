"""``POST /webhook/generic`` and the health probes through Flask's test client, on fakeredis, a folder and SQLite."""

from __future__ import annotations

import base64
import functools
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from redis.backoff import NoBackoff
from redis.retry import Retry

from bot.adapters.redis.store import SessionStore
from bot.adapters.sql.orders import SqlWorkOrders
from bot.adapters.storage import LocalFolderStore
from bot.config import DEFAULT_ALARM_TYPES, Settings
from bot.replies import say
from handlers.web.app import create_app, runtime_of
from tests.support.engine import photo, store_for

URL = "/webhook/generic"


@functools.cache
def pic(seed: int = 1) -> bytes:
    return photo(seed)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture
def make_client(
    settings: Settings, fake_store: SessionStore, storage: LocalFolderStore, orders: SqlWorkOrders
) -> Callable[..., FlaskClient]:
    def build(store: SessionStore | None = None, **changes: Any) -> FlaskClient:
        app: Flask = create_app(
            settings.with_(**changes), store=store or fake_store, storage=storage, orders=orders, vlm=None
        )
        return app.test_client()

    return build


@pytest.fixture
def client(make_client: Callable[..., FlaskClient]) -> FlaskClient:
    return make_client()


TYPE_LIST = "\n".join(f"{i}. {t}" for i, t in enumerate(DEFAULT_ALARM_TYPES["zh"], 1))


def post(client: FlaskClient, **body: Any) -> Any:
    return client.post(URL, json=body)


def dead_store(settings: Settings) -> SessionStore:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return store_for(redis.Redis(port=port, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0)), settings)


# -- happy path -----------------------------------------------------------------------------------------------
def test_full_report_and_close(client: FlaskClient, orders: SqlWorkOrders, storage: LocalFolderStore) -> None:
    r = post(client, user_id="alice", text="你好")
    assert r.status_code == 200
    assert r.get_json() == {
        "replies": [say("zh", "welcome")],
        "actions": [],
        "state": "idle",
        "waiting_for": None,
        "session": "generic:default:alice",
        "order_id": None,
    }

    r = post(client, user_id="alice", image_base64=b64(pic(1)))
    body = r.get_json()
    assert r.status_code == 200 and body["state"] == "waiting_location" and body["order_id"] is None
    assert body["waiting_for"] == "alarm_type"  # no VLM: the question asked is the type, not the place
    assert body["replies"][-1] == say("zh", "ask_type", choices=TYPE_LIST)
    assert [a["label"] for a in body["actions"]] == [*DEFAULT_ALARM_TYPES["zh"], say("zh", "choice_cancel")]

    r = post(client, user_id="alice", text="2")
    assert r.get_json()["replies"] == [say("zh", "type_set", alarm_type="漏水"), say("zh", "ask_location")]

    r = post(client, user_id="alice", location={"latitude": 31.2304, "longitude": 121.4737, "label": "B1 泵房"})
    body = r.get_json()
    assert body["state"] == "waiting_confirm" and body["order_id"] is None
    assert "B1 泵房 (31.230400,121.473700)" in body["replies"][0]

    r = post(client, user_id="alice", text="确认")
    body = r.get_json()
    oid = body["order_id"]
    order = orders.get(oid)
    assert order is not None and order.reporter.platform == "generic" and order.reporter.user == "alice"
    assert body["state"] == "idle" and oid in body["replies"][0] and body["actions"] == []
    assert order.latitude == pytest.approx(31.2304) and storage.get(order.report_photo_key) == pic(1)

    r = post(client, user_id="alice", text="我的工单")
    assert r.get_json()["order_id"] is None and oid in r.get_json()["replies"][0]

    r = post(client, user_id="alice", text=f"结单 {oid}")
    assert r.get_json()["state"] == "waiting_close_photo" and r.get_json()["order_id"] is None
    r = post(client, user_id="alice", image_base64="data:image/jpeg;base64," + b64(pic(2)))
    body = r.get_json()
    assert body == {
        "replies": [say("zh", "close_unverified", order_id=oid)],
        "actions": [],
        "state": "idle",
        "waiting_for": None,
        "session": "generic:default:alice",
        "order_id": oid,
    }
    assert orders.get(oid).status == "closed"  # type: ignore[union-attr]


def test_tenant_is_part_of_the_session(client: FlaskClient) -> None:
    a = post(client, user_id="bob", tenant="acme", image_base64=b64(pic(1))).get_json()
    b = post(client, user_id="bob", tenant="other", text="状态").get_json()
    assert a["session"] == "generic:acme:bob" and a["state"] == "waiting_location"
    assert b["session"] == "generic:other:bob" and b["state"] == "idle"


def test_non_image_bytes_get_a_reply(client: FlaskClient, settings: Settings) -> None:
    r = post(client, user_id="alice", image_base64=b64(b"%PDF-1.4 not a photo"))
    assert r.status_code == 200
    assert r.get_json()["replies"] == [say("zh", "not_image")] and r.get_json()["state"] == "idle"
    assert not Path(settings.storage_dir).exists() or not any(Path(settings.storage_dir).rglob("*.*"))


# -- auth -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("header", "status"),
    [
        (None, 401),
        ("Bearer wrong", 401),
        ("s3cret", 401),
        ("Bearer s3cret ", 401),
        ("bearer s3cret", 401),
        ("Bearer s3cret", 200),
    ],
)
def test_bearer_token(make_client: Callable[..., FlaskClient], header: str | None, status: int) -> None:
    client = make_client(generic_webhook_token="s3cret")
    headers = {"Authorization": header} if header is not None else {}
    r = client.post(URL, json={"user_id": "alice", "text": "hi"}, headers=headers)
    assert r.status_code == status
    if status == 401:
        assert "error" in r.get_json()


@pytest.mark.parametrize(
    ("redis_url", "token", "status", "logged"),
    [
        ("", "", 200, "generic webhook: OPEN to anyone"),  # embedded defaults: a newcomer can try the bot
        ("redis://127.0.0.1:6379/0", "", 404, "generic webhook: off (Redis is set"),  # secure by default
        ("redis://127.0.0.1:6379/0", "s3cret", 200, "generic webhook: on (bearer token)"),
    ],
)
def test_the_generic_webhook_is_closed_on_a_real_deployment_without_a_token(
    make_client: Callable[..., FlaskClient],
    caplog: pytest.LogCaptureFixture,
    redis_url: str,
    token: str,
    status: int,
    logged: str,
) -> None:
    with caplog.at_level("INFO", logger="handlers.web.app"):
        client = make_client(redis_url=redis_url, generic_webhook_token=token)
    assert any(logged in r.getMessage() for r in caplog.records), [r.getMessage() for r in caplog.records]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    r = client.post(URL, json={"user_id": "alice", "tenant": "acme", "text": "hi"}, headers=headers)
    assert r.status_code == status
    if status == 404:  # the same answer as any unknown URL: nothing says a webhook is there
        assert r.get_json() == client.post("/webhook/nothing-here", json={}).get_json()
    runtime_of(client.application).stop()


# -- bad requests ---------------------------------------------------------------------------------------------
LONG = "x" * 129


BAD_BODIES: list[tuple[str, Any]] = [
    ("not-json", b"{user_id: alice"),
    ("empty", b""),
    ("null", b"null"),
    ("array", b"[1, 2]"),
    ("string", b'"hello"'),
    ("number", b"42"),
    ("not-utf8", b"\xff\xfe{}"),
    ("no-user", {"text": "hi"}),
    ("user-empty", {"user_id": "", "text": "hi"}),
    ("user-blank", {"user_id": "   ", "text": "hi"}),
    ("user-too-long", {"user_id": LONG, "text": "hi"}),
    ("user-colon", {"user_id": "a:b", "text": "hi"}),
    ("user-control", {"user_id": "a\nb", "text": "hi"}),
    ("user-number", {"user_id": 42, "text": "hi"}),
    ("tenant-colon", {"user_id": "a", "tenant": "x:y", "text": "hi"}),
    ("tenant-too-long", {"user_id": "a", "tenant": LONG, "text": "hi"}),
    ("nothing", {"user_id": "a"}),
    ("text-and-image", {"user_id": "a", "text": "hi", "image_base64": "aGk="}),
    ("text-and-location", {"user_id": "a", "text": "hi", "location": {"latitude": 1, "longitude": 2}}),
    ("all-three", {"user_id": "a", "text": "hi", "image_base64": "aGk=", "location": {"latitude": 1}}),
    ("text-empty", {"user_id": "a", "text": "  "}),
    ("text-number", {"user_id": "a", "text": 5}),
    ("text-too-long", {"user_id": "a", "text": "长" * 4001}),
    ("bad-base64", {"user_id": "a", "image_base64": "!!!not base64!!!"}),
    ("base64-bad-padding", {"user_id": "a", "image_base64": "aGk"}),
    ("base64-not-string", {"user_id": "a", "image_base64": 12345}),
    ("base64-empty", {"user_id": "a", "image_base64": ""}),
    ("location-not-object", {"user_id": "a", "location": "3号楼"}),
    ("lat-missing", {"user_id": "a", "location": {"longitude": 121.0}}),
    ("lat-too-big", {"user_id": "a", "location": {"latitude": 90.5, "longitude": 121.0}}),
    ("lng-too-small", {"user_id": "a", "location": {"latitude": 31.0, "longitude": -180.1}}),
    ("lat-bool", {"user_id": "a", "location": {"latitude": True, "longitude": 121.0}}),
    ("lat-string", {"user_id": "a", "location": {"latitude": "north", "longitude": 121.0}}),
    ("lat-list", {"user_id": "a", "location": {"latitude": [31], "longitude": 121.0}}),
    ("lat-nan", b'{"user_id": "a", "location": {"latitude": NaN, "longitude": 121.0}}'),
    ("lng-infinity", b'{"user_id": "a", "location": {"latitude": 1, "longitude": Infinity}}'),
    ("label-not-string", {"user_id": "a", "location": {"latitude": 1, "longitude": 2, "label": 3}}),
    ("label-too-long", {"user_id": "a", "location": {"latitude": 1, "longitude": 2, "label": "x" * 201}}),
    ("message-id-bool", {"user_id": "a", "text": "hi", "message_id": True}),
    ("message-id-empty", {"user_id": "a", "text": "hi", "message_id": " "}),
    ("message-id-object", {"user_id": "a", "text": "hi", "message_id": {"id": 1}}),
    ("message-id-too-long", {"user_id": "a", "text": "hi", "message_id": LONG}),
    ("text-lone-surrogate", b'{"user_id": "a", "text": "\\ud800"}'),
    ("user-lone-surrogate", b'{"user_id": "\\udfff", "text": "hi"}'),
    ("label-lone-surrogate", b'{"user_id": "a", "location": {"latitude": 1, "longitude": 2, "label": "\\ud83d"}}'),
]


@pytest.mark.parametrize("body", [b for _, b in BAD_BODIES], ids=[n for n, _ in BAD_BODIES])
def test_bad_requests_are_400(client: FlaskClient, body: Any, orders: SqlWorkOrders) -> None:
    if isinstance(body, bytes):
        r = client.post(URL, data=body, content_type="application/json")
    else:
        r = client.post(URL, json=body)
    assert r.status_code == 400, r.get_data(as_text=True)
    error = r.get_json()["error"]
    assert isinstance(error, str) and error


def test_good_edge_values_are_accepted(client: FlaskClient) -> None:
    ok = [
        {"user_id": "x" * 128, "text": "hi"},
        {"user_id": "用户 一", "text": "hi"},
        {"user_id": "a", "text": "长" * 4000},
        {"user_id": "a", "text": "hi", "message_id": 17},
        {"user_id": "a", "location": {"latitude": -90, "longitude": 180}},
        {"user_id": "a", "text": "hi", "image_base64": None, "location": None},
    ]
    for body in ok:
        r = client.post(URL, json=body)
        assert r.status_code == 200, (body, r.get_json())


# -- sizes ----------------------------------------------------------------------------------------------------
def test_body_over_the_limit_is_413(make_client: Callable[..., FlaskClient]) -> None:
    client = make_client(max_body_bytes=2048)
    r = client.post(URL, json={"user_id": "a", "text": "x" * 3000})
    assert r.status_code == 413
    assert "error" in r.get_json()


def test_image_over_the_limit_is_413_with_a_reply(
    make_client: Callable[..., FlaskClient], settings: Settings, fake_store: SessionStore
) -> None:
    limit = 4000
    client = make_client(max_image_bytes=limit)
    r = client.post(URL, json={"user_id": "a", "image_base64": b64(pic(1))})
    assert r.status_code == 413
    body = r.get_json()
    assert body["error"] and body["replies"] == [say("zh", "image_too_large", limit_mb=round(limit / 1024 / 1024, 1))]
    assert fake_store.load("generic:default:a") is None


def test_image_size_boundary(make_client: Callable[..., FlaskClient]) -> None:
    """Exactly the limit is fine; one byte more is not (checked after decoding, whatever the padding)."""
    jpeg = pic(1)
    limit = len(jpeg) + 10
    client = make_client(max_image_bytes=limit)
    for extra, status in ((10, 200), (11, 413), (12, 413), (13, 413)):
        data = jpeg + b"\0" * extra
        r = client.post(URL, json={"user_id": f"u{extra}", "image_base64": b64(data)})
        assert r.status_code == status, (extra, r.get_json())


# -- duplicates -----------------------------------------------------------------------------------------------
def test_repeated_message_id_returns_the_first_answer(client: FlaskClient, orders: SqlWorkOrders) -> None:
    post(client, user_id="alice", image_base64=b64(pic(1)), message_id="m1")
    post(client, user_id="alice", text="2", message_id="m2")
    post(client, user_id="alice", text="配电房", message_id="m3")
    first = post(client, user_id="alice", text="确认", message_id="m4").get_json()
    again = post(client, user_id="alice", text="确认", message_id="m4").get_json()
    assert first == again and first["order_id"]
    # a redelivered older message changes nothing either
    replay = post(client, user_id="alice", image_base64=b64(pic(1)), message_id="m1").get_json()
    assert replay["state"] == "waiting_location" and replay["order_id"] is None
    state = post(client, user_id="alice", text="状态").get_json()
    assert state["state"] == "idle"
    assert orders.counts()["open"] == 1


def test_message_ids_are_per_user(client: FlaskClient) -> None:
    a = post(client, user_id="alice", text="帮助", message_id="same").get_json()
    b = post(client, user_id="bob", image_base64=b64(pic(1)), message_id="same").get_json()
    assert a["session"] != b["session"] and b["state"] == "waiting_location"


# -- store down and probes ------------------------------------------------------------------------------------
def test_store_down_is_503(make_client: Callable[..., FlaskClient], settings: Settings) -> None:
    client = make_client(store=dead_store(settings))
    r = post(client, user_id="alice", text="hi")
    assert r.status_code == 503
    assert r.headers["Retry-After"]
    assert r.get_json()["error"]
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.get_json()["checks"]["database"] == "ok"


def test_probes(client: FlaskClient, settings: Settings, storage: LocalFolderStore, orders: SqlWorkOrders) -> None:
    assert client.get("/healthz").status_code == 200
    r = client.get("/readyz")
    assert r.status_code == 200 and r.get_json()["checks"] == {"redis": "ok", "database": "ok"}
    # no REDIS_URL: the in-process store is named as such, not "ok" as if a Redis were there
    embedded = create_app(settings, storage=storage, orders=orders, vlm=None).test_client()
    r = embedded.get("/readyz")
    assert r.status_code == 200 and r.get_json()["checks"] == {"redis": "embedded", "database": "ok"}


def test_wrong_method_and_path_are_json(client: FlaskClient) -> None:
    r = client.get(URL)
    assert r.status_code == 405 and "error" in r.get_json()
    r = client.post("/webhook/nope", json={})
    assert r.status_code == 404 and "error" in r.get_json()
