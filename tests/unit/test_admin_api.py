"""The admin API through Flask's test client: auth, every endpoint, errors, audit."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from bot.adapters.redis.store import SessionStore
from bot.adapters.sql.orders import SqlWorkOrders
from bot.adapters.storage import LocalFolderStore
from bot.config import Settings, SettingsError
from bot.replies import say
from bot.setting_lists import parse_admin_tokens
from handlers.web.admin.auth import token_name
from tests.support.admin import AUTH, TOKEN, admin_app, report_order, runtime, stuck_closing
from tests.support.engine import Chat, photo, store_for

API = "/admin/api"


@pytest.fixture
def app(settings: Settings, fake_store: SessionStore, storage: LocalFolderStore, orders: SqlWorkOrders) -> Flask:
    return admin_app(settings, fake_store, storage, orders)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def chat(app: Flask, user: str, platform: str = "generic") -> Chat:
    return Chat(runtime(app).engine, user=user, platform=platform)


# -- switched off, and auth ---------------------------------------------------------------------------------------
def test_everything_admin_is_404_without_a_token(
    settings: Settings, fake_store: SessionStore, storage: LocalFolderStore, orders: SqlWorkOrders
) -> None:
    client = admin_app(settings, fake_store, storage, orders, token="").test_client()
    for path in (
        f"{API}/sessions",
        f"{API}/stats",
        f"{API}/openapi.json",
        "/admin",
        "/admin/login",
        "/admin/sessions",
        "/admin/images/2026/01/01/" + "a" * 32 + ".jpg",
    ):
        assert client.get(path, headers=AUTH).status_code == 404, path
    assert client.post(f"{API}/sessions/generic:t1:u/reset", headers=AUTH).status_code == 404


@pytest.mark.parametrize("header", [None, "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer "])
def test_missing_or_wrong_token_is_401(client: FlaskClient, header: str | None) -> None:
    headers = {"Authorization": header} if header is not None else {}
    for method, path in (
        ("get", "/sessions"),
        ("get", "/stats"),
        ("delete", "/sessions/generic:t1:u"),
        ("get", "/audit"),
        ("post", "/orders/WO-20260101-ABCDE/cancel"),
    ):
        resp = getattr(client, method)(API + path, headers=headers)
        assert resp.status_code == 401, (method, path)
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        assert TOKEN not in resp.get_data(as_text=True)


def test_token_parsing_and_constant_time_lookup() -> None:
    assert parse_admin_tokens("") == {}
    assert parse_admin_tokens("plain-Secret_123") == {"admin": "plain-Secret_123"}
    assert parse_admin_tokens("alice:s1, bob:s2") == {"alice": "s1", "bob": "s2"}
    with pytest.raises(ValueError, match="name:secret"):
        parse_admin_tokens("alice:s1,naked")
    tokens = parse_admin_tokens("alice:s1,bob:s2")
    assert token_name(tokens, "s2") == "bob"
    assert token_name(tokens, "s3") is None and token_name(tokens, "") is None


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("alice:s1,naked-secret-x", "entry 2 is not name:secret"),
        ("alice:s1,,bob:s2", "empty entry"),
        ("alice:s1,alice:secret-x", "names 'alice' twice"),
        ("alice:s1,bob: ", "empty secret"),
        ("alice:s1,", "empty entry"),
    ],
)
def test_a_malformed_admin_token_stops_start_up_naming_the_variable_not_the_secret(raw: str, reason: str) -> None:
    with pytest.raises(SettingsError, match=reason) as caught:
        Settings.from_env({"ADMIN_TOKEN": raw})
    assert str(caught.value).startswith("ADMIN_TOKEN ")
    assert "secret-x" not in str(caught.value)


def test_named_tokens_put_the_name_in_the_audit_trail(
    settings: Settings, fake_store: SessionStore, storage: LocalFolderStore, orders: SqlWorkOrders
) -> None:
    app = admin_app(settings, fake_store, storage, orders, token="alice:tok-a,bob:tok-b")
    client = app.test_client()
    user = chat(app, "worker1")
    user.text("hi")
    assert client.post(f"{API}/sessions/{user.key}/reset", headers={"Authorization": "Bearer tok-b"}).status_code == 200
    assert client.get(f"{API}/audit", headers={"Authorization": "Bearer tok-a"}).json["items"][0]["who"] == "bob"
    assert client.get(f"{API}/stats", headers={"Authorization": "Bearer alice:tok-a"}).status_code == 401


# -- sessions -------------------------------------------------------------------------------------------------------
def test_list_filter_and_search(app: Flask, client: FlaskClient) -> None:
    stuck = chat(app, "zhang-0042")
    stuck_closing(stuck, report_order(stuck))
    chat(app, "li-0043").text("hi")
    chat(app, "wang", platform="wecom").text("hi")
    body = client.get(f"{API}/sessions", headers=AUTH).json
    assert [s["user"] for s in body["items"]] == ["wang", "li-0043", "zhang-0042"] and body["next_cursor"] is None
    only = client.get(f"{API}/sessions?state=waiting_close_photo", headers=AUTH).json["items"]
    assert [(s["user"], s["state"]) for s in only] == [("zhang-0042", "waiting_close_photo")]
    assert only[0]["waiting_for"].startswith("a photo of the fixed site for WO-")
    assert [s["user"] for s in client.get(f"{API}/sessions?platform=wecom", headers=AUTH).json["items"]] == ["wang"]
    assert {s["user"] for s in client.get(f"{API}/sessions?q=004", headers=AUTH).json["items"]} == {
        "zhang-0042",
        "li-0043",
    }
    for bad in ("state=asleep", "limit=0", "limit=201", "limit=x", "cursor=%%%", "platform=a%20b"):
        resp = client.get(f"{API}/sessions?{bad}", headers=AUTH)
        assert resp.status_code == 400 and resp.json["error"], bad


def test_cursor_paging_through_the_api_has_no_duplicates(app: Flask, client: FlaskClient) -> None:
    for i in range(23):
        chat(app, f"user{i}").text("hi")
    seen: list[str] = []
    url = f"{API}/sessions?limit=5"
    while url:
        body = client.get(url, headers=AUTH).json
        seen += [s["key"] for s in body["items"]]
        url = f"{API}/sessions?limit=5&cursor={body['next_cursor']}" if body["next_cursor"] else ""
    assert len(seen) == len(set(seen)) == 23


def test_session_detail_with_photo_links(app: Flask, client: FlaskClient) -> None:
    user = chat(app, "alice")
    user.image(photo(5))
    body = client.get(f"{API}/sessions/{user.key}", headers=AUTH).json
    assert body["state"] == "waiting_location" and 0 < body["seconds_left"] <= 600
    key = body["pending"]["image_key"]
    assert body["pending"]["image_url"] == f"/admin/images/{key}"  # local folder store: the page's route
    assert body["history"][0]["image_url"] == f"/admin/images/{key}"
    image = client.get(body["pending"]["image_url"], headers=AUTH)
    assert image.status_code == 200 and image.mimetype == "image/jpeg" and image.data == photo(5)
    assert client.get(body["pending"]["image_url"]).status_code == 401
    assert client.get(f"{API}/sessions/generic:t1:nobody", headers=AUTH).status_code == 404


def test_a_bare_user_id_finds_the_one_session_of_that_user_as_the_cli_does(app: Flask, client: FlaskClient) -> None:
    wangwu = chat(app, "wangwu", platform="wecom")
    stuck_closing(wangwu, report_order(wangwu))
    chat(app, "wangwu2").text("hi")

    shown = client.get(f"{API}/sessions/wangwu", headers=AUTH)
    assert shown.status_code == 200 and shown.json["key"] == "wecom:t1:wangwu"
    assert shown.json["state"] == "waiting_close_photo"
    reset = client.post(f"{API}/sessions/wangwu/reset", headers=AUTH)
    assert reset.status_code == 200 and reset.json["key"] == "wecom:t1:wangwu" and reset.json["state"] == "idle"
    ttl = client.put(f"{API}/sessions/wangwu/ttl", headers=AUTH, json={"seconds": 3600})
    assert ttl.json == {"key": "wecom:t1:wangwu", "seconds_left": 3600}
    audit = client.get(f"{API}/audit", headers=AUTH).json["items"]
    assert [e["target"] for e in audit] == ["wecom:t1:wangwu", "wecom:t1:wangwu"]  # the full key, not the given id

    # the same user on a second platform: no guess, the keys to choose from (and nothing changed)
    chat(app, "wangwu", platform="slack").text("hi")
    for resp in (
        client.get(f"{API}/sessions/wangwu", headers=AUTH),
        client.post(f"{API}/sessions/wangwu/reset", headers=AUTH),
        client.delete(f"{API}/sessions/wangwu", headers=AUTH),
    ):
        assert resp.status_code == 409, resp.json
        assert resp.json["error"] == "user id 'wangwu' has 2 live sessions; give one of these keys"
        assert sorted(resp.json["candidates"]) == ["slack:t1:wangwu", "wecom:t1:wangwu"]
    assert runtime(app).store.load("slack:t1:wangwu") is not None
    assert runtime(app).store.load("wecom:t1:wangwu") is not None

    near = client.get(f"{API}/sessions/wang", headers=AUTH)
    assert near.status_code == 404
    assert near.json["error"] == "no live session of user id 'wang'; user ids containing it:"
    assert set(near.json["candidates"]) == {"generic:t1:wangwu2", "slack:t1:wangwu", "wecom:t1:wangwu"}
    nobody = client.get(f"{API}/sessions/zhaoliu", headers=AUTH)
    assert nobody.status_code == 404 and nobody.json == {
        "error": "no live session of user id 'zhaoliu'; a key is platform:tenant:user.",
        "candidates": [],
    }
    assert client.get(f"{API}/sessions/generic:t1:zhaoliu", headers=AUTH).json == {
        "error": "no live session 'generic:t1:zhaoliu'"
    }
    assert client.get(f"{API}/sessions/{'x' * 129}", headers=AUTH).status_code == 404  # longer than a search


def test_reset_keeps_history_and_the_next_webhook_message_starts_fresh(app: Flask, client: FlaskClient) -> None:
    user = chat(app, "field-7", platform="generic")
    order_id = report_order(user)
    stuck_closing(user, order_id)
    history = client.get(f"{API}/sessions/{user.key}", headers=AUTH).json["history"]

    resp = client.post(f"{API}/sessions/{user.key}/reset", headers=AUTH, json={"notify": True})

    assert resp.status_code == 200
    assert resp.json == {
        "key": user.key,
        "state": "idle",
        "previous_state": "waiting_close_photo",
        "notified": False,
    }  # the generic webhook has no push channel
    after = client.get(f"{API}/sessions/{user.key}", headers=AUTH).json
    assert after["state"] == "idle" and after["pending"] == {} and after["history"] == history
    # A photo is no longer taken as the close photo: the bot asks what it is for (the order is still open).
    import base64

    turn = client.post(
        "/webhook/generic",
        json={"user_id": "field-7", "tenant": "t1", "image_base64": base64.b64encode(photo(9)).decode()},
    )
    assert turn.status_code == 200 and turn.json["state"] == "idle"
    # the user hears first why the close they were in is gone
    assert turn.json["replies"][0] == say("zh", "reset_notice", flow=say("zh", "flow_close"))
    assert turn.json["replies"][1].startswith(say("zh", "new_or_fix", orders="")[:10])


def test_reset_errors(app: Flask, client: FlaskClient) -> None:
    user = chat(app, "alice")
    user.text("hi")
    assert client.post(f"{API}/sessions/generic:t1:nobody/reset", headers=AUTH).status_code == 404
    assert client.post(f"{API}/sessions/{user.key}/reset", headers=AUTH, json={"notify": "yes"}).status_code == 400
    assert client.post(f"{API}/sessions/{user.key}/reset", headers=AUTH, json=[1]).status_code == 400
    assert client.post(f"{API}/sessions/{user.key}/reset", headers=AUTH, data="{not json").status_code == 400
    assert client.post(f"{API}/sessions/{user.key}/reset", headers=AUTH).status_code == 200  # no body: fine


def test_reset_notify_goes_through_the_platform_module(app: Flask, client: FlaskClient) -> None:
    """A platform module with ``notify(runtime, tenant, user, text)`` is used for the notice."""
    import types

    sent: list[tuple[str, str, str]] = []
    fake = types.SimpleNamespace(
        enabled=lambda settings: True,
        notify=lambda rt, tenant, user, text: sent.append((tenant, user, text)) or True,
    )
    runtime(app).platforms["pushy"] = fake  # type: ignore[assignment]
    user = chat(app, "u9", platform="pushy")
    user.text("hi")
    body = client.post(f"{API}/sessions/{user.key}/reset", headers=AUTH, json={"notify": True}).json
    assert body["notified"] is True
    assert sent == [("t1", "u9", "值班人员已重置你的会话，可以重新开始了。")]


def test_delete(app: Flask, client: FlaskClient) -> None:
    user = chat(app, "alice")
    user.text("hi")
    assert client.delete(f"{API}/sessions/{user.key}", headers=AUTH).json == {"key": user.key, "deleted": True}
    assert client.get(f"{API}/sessions/{user.key}", headers=AUTH).status_code == 404
    assert client.delete(f"{API}/sessions/{user.key}", headers=AUTH).status_code == 404


@pytest.mark.parametrize(
    "body", [{"seconds": 59}, {"seconds": 86401}, {"seconds": "600"}, {"seconds": 60.5}, {}, {"seconds": None}, [600]]
)
def test_ttl_out_of_range_is_400(app: Flask, client: FlaskClient, body: Any) -> None:
    user = chat(app, "alice")
    user.text("hi")
    resp = client.put(f"{API}/sessions/{user.key}/ttl", headers=AUTH, json=body)
    assert resp.status_code == 400 and resp.json["error"]


def test_ttl(app: Flask, client: FlaskClient, fake_store: SessionStore) -> None:
    user = chat(app, "alice")
    user.text("hi")
    assert client.put(f"{API}/sessions/{user.key}/ttl", headers=AUTH, json={"seconds": 7200}).json == {
        "key": user.key,
        "seconds_left": 7200,
    }
    assert 7000 < fake_store.ttl(user.key) <= 7200
    assert client.put(f"{API}/sessions/generic:t1:x/ttl", headers=AUTH, json={"seconds": 600}).status_code == 404


# -- stats, orders, audit -------------------------------------------------------------------------------------------
def test_stats(app: Flask, client: FlaskClient) -> None:
    user = chat(app, "alice")
    stuck_closing(user, report_order(user))
    resp = client.get(f"{API}/stats", headers=AUTH)
    body = resp.json
    assert body["sessions"]["active"] == 1
    assert body["sessions"]["by_state"]["waiting_close_photo"] == 1
    assert body["sessions"]["by_platform"]["generic"] == 1
    assert body["orders"] == {"open": 1, "closed": 0, "cancelled": 0}
    assert body["turns_last_hour"] == 5
    assert body["redis"]["version"]
    assert resp.headers["Cache-Control"] == "no-store"


def test_orders_endpoints(app: Flask, client: FlaskClient) -> None:
    user = chat(app, "alice")
    first = report_order(user, 1)
    second = report_order(user, 2)
    page = client.get(f"{API}/orders?limit=1", headers=AUTH).json
    assert [o["id"] for o in page["items"]] == [second]
    rest = client.get(f"{API}/orders?limit=1&cursor={page['next_cursor']}", headers=AUTH).json
    assert [o["id"] for o in rest["items"]] == [first] and rest["next_cursor"] is None
    assert client.get(f"{API}/orders?status=open&q=alice", headers=AUTH).json["items"][0]["id"] == second
    assert client.get(f"{API}/orders?status=lost", headers=AUTH).status_code == 400
    assert client.get(f"{API}/orders?cursor=zzz", headers=AUTH).status_code == 400

    shown = client.get(f"{API}/orders/{first}", headers=AUTH).json
    photo_key = shown["report_photo"]["key"]
    assert shown["report_photo"]["url"] == f"/admin/images/{photo_key}"
    assert [h["role"] for h in shown["history"]][:2] == ["user", "bot"]
    assert client.get(f"{API}/orders/WO-20200101-ABCDE", headers=AUTH).status_code == 404

    cancel = client.post(f"{API}/orders/{first}/cancel", headers=AUTH, json={"reason": "duplicate"})
    assert cancel.status_code == 200 and cancel.json["status"] == "cancelled"
    assert client.post(f"{API}/orders/{first}/cancel", headers=AUTH, json={"reason": "again"}).status_code == 409
    assert client.post(f"{API}/orders/{second}/cancel", headers=AUTH, json={}).status_code == 400
    lone_surrogate = client.post(
        f"{API}/orders/{second}/cancel", headers=AUTH, content_type="application/json", data='{"reason": "\\ud800"}'
    )
    assert lone_surrogate.status_code == 400
    assert client.post(f"{API}/orders/WO-20200101-ABCDE/cancel", headers=AUTH, json={"reason": "x"}).status_code == 404


def test_audit_records_changes_with_who_and_before_after(app: Flask, client: FlaskClient) -> None:
    user = chat(app, "alice")
    order_id = report_order(user)
    stuck_closing(user, order_id)
    client.put(f"{API}/sessions/{user.key}/ttl", headers=AUTH, json={"seconds": 900})
    client.post(f"{API}/sessions/{user.key}/reset", headers=AUTH)
    client.post(f"{API}/orders/{order_id}/cancel", headers=AUTH, json={"reason": "wrong site"})
    client.delete(f"{API}/sessions/{user.key}", headers=AUTH)
    client.get(f"{API}/sessions/{user.key}", headers=AUTH)  # reads are not audited
    page = client.get(f"{API}/audit?limit=3", headers=AUTH).json
    assert [e["action"] for e in page["items"]] == ["session.delete", "order.cancel", "session.reset"]
    assert all(e["who"] == "admin" for e in page["items"])
    assert page["items"][2]["before"]["state"] == "waiting_close_photo"
    assert page["items"][2]["after"]["state"] == "idle"
    older = client.get(f"{API}/audit?cursor={page['next_cursor']}", headers=AUTH).json
    assert [e["action"] for e in older["items"]] == ["session.ttl"] and older["next_cursor"] is None
    assert older["items"][0]["after"] == {"seconds_left": 900}
    assert client.get(f"{API}/audit?cursor=abc", headers=AUTH).status_code == 400


def test_redis_down_is_503_not_a_stack_trace(
    settings: Settings, storage: LocalFolderStore, orders: SqlWorkOrders
) -> None:
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    client = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))
    dead = store_for(client, settings)
    client = admin_app(settings, dead, storage, orders).test_client()
    for path in ("/sessions", "/stats", "/sessions/generic:t1:u", "/audit"):
        resp = client.get(API + path, headers=AUTH)
        assert resp.status_code == 503, path
        assert resp.headers["Retry-After"] and "Traceback" not in resp.get_data(as_text=True)


def test_openapi_document_is_served_and_valid(client: FlaskClient) -> None:
    from openapi_spec_validator import validate

    resp = client.get(f"{API}/openapi.json")
    assert resp.status_code == 200
    validate(resp.json)
    assert set(resp.json["paths"]) == {
        "/sessions",
        "/sessions/{key}",
        "/sessions/{key}/reset",
        "/sessions/{key}/ttl",
        "/stats",
        "/orders",
        "/orders/{order_id}",
        "/orders/{order_id}/move",
        "/orders/{order_id}/cancel",
        "/orders.csv",
        "/deliveries",
        "/deliveries/{event_id}/retry",
        "/audit",
        "/sites",
        "/sites.csv",
        "/sites/tenants",
        "/sites/tag.png",
        "/sites/tags.pdf",
        "/reports",
    }
