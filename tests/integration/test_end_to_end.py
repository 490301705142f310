"""The whole app from ``create_app(settings)`` with real parts, driven over HTTP on ``/webhook/generic``: the report
and close flows, the VLM failing, presigned URLs.

Real Redis (``$REDIS_URL``, a unique prefix per test, wiped afterwards), the real ``openai`` client
against the local FakeOpenAI server, real ``boto3`` against a local S3 (moto's server mode), work
orders in SQLite (and once in PostgreSQL, in a schema of its own). Nothing of ours is replaced:
the tests assert on what the user gets back, what the fake servers received and what was stored.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest

from bot.adapters.sql.orders import SqlWorkOrders
from bot.replies import say
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.s3_server import loopback_opener
from tests.support.e2e import (
    FIXED,
    LEAK,
    NOT_FIXED,
    REPORTER,
    SESSION,
    USER,
    Stack,
    answer,
    authorized_client,
    b64,
    choices,
    data_url_bytes,
    report,
)
from tests.support.engine import photo

pytestmark = pytest.mark.integration


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
