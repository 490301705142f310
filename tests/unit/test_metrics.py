"""Observability: Prometheus metrics after real turns, per-app registries, ack latency, JSON log lines."""

from __future__ import annotations

import base64
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families

from bot.adapters.redis.store import SessionStore
from bot.adapters.sql.orders import SqlWorkOrders
from bot.adapters.storage import LocalFolderStore
from bot.config import Settings
from handlers.logs import JsonFormatter, redact
from handlers.metrics import PrometheusObserver, observe_ack
from handlers.web.app import create_app
from tests.support.admin import runtime
from tests.support.engine import photo


def samples(app: Flask) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of ``GET /metrics``, keyed by (name, sorted labels)."""
    resp = app.test_client().get("/metrics")
    assert resp.status_code == 200 and resp.mimetype == "text/plain"
    out = {}
    for family in text_string_to_metric_families(resp.get_data(as_text=True)):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(app: Flask, name: str, **labels: str) -> float:
    return samples(app).get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def make_app(settings: Settings, fake_store: SessionStore, storage: LocalFolderStore, orders: SqlWorkOrders) -> Any:
    def build(**changes: Any) -> Flask:
        return create_app(settings.with_(**changes), store=fake_store, storage=storage, orders=orders)

    return build


def send(app: Flask, headers: dict[str, str] | None = None, **body: Any) -> Any:
    resp = app.test_client().post(
        "/webhook/generic", headers=headers or {}, json={"user_id": "worker-1", "tenant": "acme", **body}
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.json


def test_metrics_is_open_and_counts_turns_transitions_vlm_and_errors(make_app: Any, fake_openai: Any) -> None:
    app = make_app(vlm_base_url=fake_openai.base_url, vlm_api_key="sk-test", nlu_base_url="off")
    assert isinstance(runtime(app).services.observer, PrometheusObserver)
    assert value(app, "wobot_turns_total", platform="generic", kind="image") == 0

    send(app, text="你好")
    send(app, image_base64=base64.b64encode(photo(1)).decode())
    send(app, image_base64=base64.b64encode(b"not a photo at all").decode())

    assert value(app, "wobot_turns_total", platform="generic", kind="text") == 1
    assert value(app, "wobot_turns_total", platform="generic", kind="image") == 2
    assert value(app, "wobot_state_transitions_total", source="idle", dest="waiting_location") == 1
    assert value(app, "wobot_vlm_calls_total", kind="analyze", outcome="ok") == 1
    assert value(app, "wobot_vlm_call_duration_seconds_count", kind="analyze") == 1
    assert value(app, "wobot_errors_total", kind="image_not_image") == 1
    assert value(app, "wobot_webhook_ack_seconds_count", platform="generic") == 3
    assert value(app, "wobot_turn_duration_seconds_count", platform="generic") == 3
    assert value(app, "wobot_active_sessions", state="waiting_location") == 1
    assert value(app, "wobot_active_sessions_by_platform", platform="generic") == 1
    assert value(app, "wobot_session_store_up") == 1


def test_vlm_failures_are_counted(make_app: Any, fake_openai: Any) -> None:
    fake_openai.respond_with("this is not the JSON the adapter asked for")
    app = make_app(vlm_base_url=fake_openai.base_url, vlm_api_key="sk-test", vlm_timeout_seconds=2, nlu_base_url="off")
    send(app, image_base64=base64.b64encode(photo(2)).decode())
    assert value(app, "wobot_vlm_calls_total", kind="analyze", outcome="error") >= 1
    assert value(app, "wobot_errors_total", kind="vlm") == 1


def test_every_app_has_its_own_registry(make_app: Any) -> None:
    first, second = make_app(), make_app()
    send(first, text="hi")
    assert value(first, "wobot_turns_total", platform="generic", kind="text") == 1
    assert value(second, "wobot_turns_total", platform="generic", kind="text") == 0


def test_observe_ack_for_platform_handlers_replaces_the_hook_measurement(make_app: Any) -> None:
    app = make_app()

    @app.post("/webhook/demo")
    def demo() -> str:
        observe_ack("demo", 0.42)
        return "ok"

    assert app.test_client().post("/webhook/demo").status_code == 200
    assert value(app, "wobot_webhook_ack_seconds_count", platform="demo") == 1
    assert value(app, "wobot_webhook_ack_seconds_sum", platform="demo") == pytest.approx(0.42)
    assert value(app, "wobot_webhook_ack_seconds_count", platform="unknown") == 0
    observe_ack("demo", 1.0)  # outside any app: ignored, never raises


def test_active_sessions_gauge_says_when_the_store_is_down(
    settings: Settings, storage: LocalFolderStore, orders: SqlWorkOrders
) -> None:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    from tests.support.engine import store_for

    dead = store_for(redis.Redis(port=1, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0)), settings)
    app = create_app(settings, store=dead, storage=storage, orders=orders, vlm=None)
    assert value(app, "wobot_session_store_up") == 0
    assert ("wobot_active_sessions", (("state", "idle"),)) not in samples(app)


# -- logs -------------------------------------------------------------------------------------------------------------
@pytest.fixture
def json_log_lines(make_app: Any, fake_openai: Any) -> Iterator[tuple[Flask, io.StringIO]]:
    """An app with LOG_FORMAT=json (and a VLM that answers nonsense) whose log handler writes into a buffer."""
    fake_openai.respond_with("no JSON here")
    app = make_app(
        log_format="json",
        generic_webhook_token="whsec-generic-123",
        admin_token="adm-tok-456",
        vlm_base_url=fake_openai.base_url,
        nlu_base_url="off",
        vlm_api_key="sk-vlm-secret-000",
    )
    handler = next(h for h in logging.getLogger().handlers if getattr(h, "_wobot", False))
    assert isinstance(handler.formatter, JsonFormatter)
    buffer = io.StringIO()
    old = handler.setStream(buffer)  # type: ignore[attr-defined]
    try:
        yield app, buffer
    finally:
        handler.setStream(old)  # type: ignore[attr-defined]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_json_log_lines_carry_the_user_key_and_event_id_and_no_secrets(
    json_log_lines: tuple[Flask, io.StringIO],
) -> None:
    app, buffer = json_log_lines
    client = app.test_client()
    resp = client.post(
        "/webhook/generic",
        headers={"Authorization": "Bearer whsec-generic-123"},
        json={"user_id": "worker-9", "tenant": "acme", "message_id": "evt-77", "image_base64": _b64(photo(7))},
    )
    assert resp.status_code == 200
    # Chatter in idle is a DEBUG line; a turn that leaves the user in a flow is INFO, with the context.
    client.post(
        "/webhook/generic",
        headers={"Authorization": "Bearer whsec-generic-123"},
        json={"user_id": "worker-10", "tenant": "acme", "message_id": "evt-78", "text": "你好"},
    )
    client.get("/admin/api/sessions", headers={"Authorization": "Bearer adm-tok-456"})
    client.get("/admin/api/sessions", headers={"Authorization": "Bearer wrong-guess-789"})
    logging.getLogger("some.library").warning("GET https://api.example/x?access_token=leaky-999&id=1")

    lines = [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]
    turn_lines = [entry for entry in lines if entry.get("event_id") == "evt-77"]
    assert turn_lines, lines
    assert all(entry["session"] == "generic:acme:worker-9" and entry["platform"] == "generic" for entry in turn_lines)
    assert any(entry["msg"].startswith("turn image: waiting_location") for entry in turn_lines)
    assert not [entry for entry in lines if entry.get("event_id") == "evt-78"]
    assert all({"ts", "level", "logger", "msg"} <= set(entry) for entry in lines)
    text = buffer.getvalue()
    for secret in ("whsec-generic-123", "adm-tok-456", "wrong-guess-789", "leaky-999"):
        assert secret not in text
    assert "access_token=***" in text


def test_every_line_logged_during_a_turn_gets_its_context(json_log_lines: tuple[Flask, io.StringIO]) -> None:
    """bot.adapters.vlm logs its failure without any ``extra``; the line still says whose turn it was."""
    app, buffer = json_log_lines
    send(
        app,
        {"Authorization": "Bearer whsec-generic-123"},
        message_id="evt-88",
        image_base64=base64.b64encode(photo(4)).decode(),
    )
    lines = [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]
    during = [entry for entry in lines if entry.get("event_id") == "evt-88"]
    assert {entry["logger"] for entry in during} >= {"bot.adapters.vlm", "bot.dialogue.flows.report", "handlers.logs"}
    assert all(entry["session"] == "generic:acme:worker-1" for entry in during)
    assert "sk-vlm-secret-000" not in buffer.getvalue()
    assert base64.b64encode(photo(4)).decode()[:40] not in buffer.getvalue()  # no image bytes either
    # outside a turn the context is gone again
    logging.getLogger("after").warning("between turns")
    last = json.loads(buffer.getvalue().splitlines()[-1])
    assert last["msg"] == "between turns" and "session" not in last and "event_id" not in last


def test_redact() -> None:
    assert redact("Authorization: Bearer abc.def") == "Authorization: Bearer ***"
    assert redact("Authorization: bearer xoxb-17-Abc") == "Authorization: bearer ***"
    assert redact("headers={'Authorization: Bearer guess'}") == "headers={'Authorization: Bearer ***'}"
    assert redact("gettoken?corpid=x&corpsecret=s3&x=1") == "gettoken?corpid=x&corpsecret=***&x=1"
    assert redact("nothing to hide here") == "nothing to hide here"
    # words after "bearer" in a sentence are not credentials
    for prose in ("generic webhook: on (bearer token); store: redis", "send a bearer token."):
        assert redact(prose) == prose


@pytest.fixture
def text_log() -> Iterator[io.StringIO]:
    """The app's log handler (installed by the first app built) writing into a buffer."""
    handler = next((h for h in logging.getLogger().handlers if getattr(h, "_wobot", False)), None)
    if handler is None:
        logging.getLogger().addHandler(handler := logging.StreamHandler())
        handler._wobot = True  # type: ignore[attr-defined]
    buffer = io.StringIO()
    old = handler.setStream(buffer)  # type: ignore[attr-defined]
    try:
        yield buffer
    finally:
        handler.setStream(old)  # type: ignore[attr-defined]


def test_the_start_up_line_is_logged_intact_and_the_secrets_never(make_app: Any, text_log: io.StringIO) -> None:
    """A configured secret is masked wherever it appears, even one a library logs in a sentence of its own."""
    make_app(
        generic_webhook_token="swordfish",  # a plain word: only knowing it is a secret can mask it
        admin_token="alice:opensesame,bob:hunter2-bob",
        slack_signing_secret="8f742231b10e8888abcd99yyyzzz85a5",
        slack_bot_token="xoxb-1234-5678-abcdef",
        database_url="postgresql://wobot:pg-pass-77@127.0.0.1:5432/orders?connect_timeout=1",
        redis_url="",
    )
    logging.getLogger("some.library").warning("retrying: swordfish was refused; opensesame too; as was hunter2-bob")
    logging.getLogger("some.library").warning("POST https://slack.example/chat xoxb-1234-5678-abcdef sig 8f742231b10e")
    logging.getLogger("some.library").warning("connect postgresql://wobot:pg-pass-77@db failed")

    text = text_log.getvalue()
    assert "INFO handlers.web.app: platforms on: slack; generic webhook: on (bearer token); store: " in text, text
    for secret in ("swordfish", "opensesame", "hunter2-bob", "xoxb-1234-5678-abcdef", "pg-pass-77"):
        assert secret not in text
    assert "retrying: *** was refused; *** too; as was ***" in text
    assert "connect postgresql://wobot:***@db failed" in text


def test_language_model_and_speech_calls_are_counted_by_outcome() -> None:
    from handlers.metrics import PrometheusObserver

    observer = PrometheusObserver()
    observer.nlu_call(0.2, "read")
    observer.nlu_call(0.3, "unsure")
    observer.nlu_call(5.0, "error")
    observer.stt_call(1.5, True)
    observer.stt_call(30.0, False)
    sample = observer.registry.get_sample_value
    assert [sample("wobot_nlu_calls_total", {"outcome": o}) for o in ("read", "unsure", "error")] == [1, 1, 1]
    assert sample("wobot_nlu_call_duration_seconds_count") == 3
    assert (
        sample("wobot_stt_calls_total", {"outcome": "ok"}) == 1
        and sample("wobot_stt_calls_total", {"outcome": "error"}) == 1
    )
    assert sample("wobot_stt_call_duration_seconds_sum") == 31.5
