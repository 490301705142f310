"""Fuzzing every route a stranger can reach: thousands of generated bodies per route, never a 5xx.

Bodies (seeded, so a failure repeats): random bytes, truncations of valid bodies, type swaps at
random places of valid bodies, nesting thousands of levels deep, odd Unicode (lone surrogates,
NUL, bidi controls) and wrong content types. Unsigned platform requests must never get a 2xx;
signed ones (signed with the real secrets, so the parsers behind the signature check are reached)
must get no 5xx. No request may log a traceback or an ERROR: a client's bad body is one warning line.
The valid bodies follow the platforms' documented payloads (the same shapes as tests/support/slack.py,
tests/integration/test_feishu.py and test_wecom.py).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import fakeredis
import pytest
from flask import Flask
from flask.testing import FlaskClient

from bot.config import Settings
from handlers.platforms import crypto as pc
from handlers.web.app import create_app, runtime_of
from tests.support.admin import AUTH, TOKEN
from tests.support.engine import store_for
from tests.support.wecom import AES_KEY

pytestmark = pytest.mark.integration

ROUNDS = 1500  # per route and mode
SLACK_SECRET, FEISHU_KEY, FEISHU_TOKEN, WECOM_TOKEN, CORP = "slack-secret", "feishu-key", "vt", "wecom-token", "ww1"
ODD = ["\ud83d", "\udc00x", "\x00", "\u202e", "e\u0301", "😀" * 50, "\ufeff", "", " ", "x" * 5000, "WO-20990101-ABCDE"]
CONTENT_TYPES = ["application/json", "text/plain", "application/x-www-form-urlencoded", "text/xml", "", "image/png"]


def slack_signature(ts: str, body: bytes) -> str:
    """Slack's v0 signature over the raw bytes (slack_sdk's generator only takes UTF-8 bodies)."""
    return "v0=" + hmac.new(SLACK_SECRET.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()


def slack_event() -> dict[str, Any]:
    return {
        "team_id": "T1",
        "type": "event_callback",
        "event_id": "Ev1",
        "authorizations": [{"team_id": "T1", "user_id": "U2", "is_bot": True}],
        "event": {
            "type": "message",
            "channel": "D1",
            "user": "U1",
            "ts": "1652227646.000100",
            "text": "hi",
            "subtype": "file_share",
            "files": [
                {"id": "F1", "mimetype": "image/jpeg", "size": 10, "url_private_download": "http://127.0.0.1:9/f"}
            ],
        },
    }


def feishu_event() -> dict[str, Any]:
    return {
        "schema": "2.0",
        "header": {"event_id": "e1", "event_type": "im.message.receive_v1", "token": FEISHU_TOKEN, "tenant_key": "tk"},
        "event": {
            "sender": {"sender_id": {"open_id": "ou_1"}, "sender_type": "user"},
            "message": {
                "message_id": "om_1",
                "chat_id": "oc_1",
                "message_type": "post",
                "content": json.dumps({"title": "t", "content": [[{"tag": "img", "image_key": "img_1"}]]}),
            },
        },
    }


WECOM_XML = (
    "<xml><ToUserName><![CDATA[ww1]]></ToUserName><FromUserName><![CDATA[li]]></FromUserName>"
    "<CreateTime>1700000000</CreateTime><MsgType><![CDATA[location]]></MsgType><Location_X>31.2</Location_X>"
    "<Location_Y>121.4</Location_Y><Label><![CDATA[B3]]></Label><MsgId>42</MsgId><AgentID>1</AgentID></xml>"
)
GENERIC = {
    "user_id": "u1",
    "tenant": "t",
    "message_id": "m1",
    "location": {"latitude": 1, "longitude": 2, "label": "x"},
}
ADMIN = {"reason": "dup", "seconds": 600}


class Fuzzer:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def value(self, depth: int = 0) -> Any:
        r = self.rng.random()
        if r < 0.2 and depth < 3:
            return [self.value(depth + 1) for _ in range(self.rng.randint(0, 3))]
        if r < 0.35 and depth < 3:
            return {self.rng.choice([*ODD, "type", "event"]): self.value(depth + 1)}
        return self.rng.choice([None, True, False, 0, -1, 2**70, 1.5e308, float("nan"), *ODD])

    def swapped(self, data: Any) -> Any:
        """``data`` with one value somewhere replaced by something of another type."""
        if isinstance(data, dict) and data:
            key = self.rng.choice(list(data))
            inner = data[key] if self.rng.random() < 0.6 else None
            return {**data, key: self.swapped(inner) if inner is not None else self.value()}
        if isinstance(data, list) and data:
            i = self.rng.randrange(len(data))
            return [*data[:i], self.swapped(data[i]), *data[i + 1 :]]
        return self.value()

    def deep(self) -> bytes:
        n = self.rng.choice([100, 1000, 5000, 20000])
        if self.rng.random() < 0.5:
            return b"[" * n + b"]" * n
        return b'{"a":' * n + b"1" + b"}" * n

    def body(self, valid: Any) -> bytes:
        """One hostile body built from a valid JSON value (or XML text)."""
        kind = self.rng.randrange(6)
        text = valid if isinstance(valid, str) else json.dumps(valid)
        if kind == 0:
            return self.rng.randbytes(self.rng.randint(0, 600))
        if kind == 1:
            return text.encode()[: self.rng.randint(0, len(text))]
        if kind == 2 and not isinstance(valid, str):
            return json.dumps(self.swapped(valid)).encode()  # stdlib escapes lone surrogates as a client would
        if kind == 3:
            return self.deep()
        if kind == 4:
            odd = json.dumps(self.rng.choice(ODD))[1:-1]
            cut = self.rng.randint(0, len(text))
            return (text[:cut] + odd + text[cut:]).encode("utf-8", "surrogatepass")
        return text.encode()

    def content_type(self) -> str:
        return self.rng.choice(CONTENT_TYPES)


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    configured = settings.with_(
        admin_token=TOKEN,
        worker_threads=1,
        slack_signing_secret=SLACK_SECRET,
        slack_bot_token="xoxb-1",
        slack_api_base="http://127.0.0.1:9/api",
        feishu_app_id="cli_1",
        feishu_app_secret="s",
        feishu_verification_token=FEISHU_TOKEN,
        feishu_encrypt_key=FEISHU_KEY,
        feishu_api_base="http://127.0.0.1:9",
        wecom_corp_id=CORP,
        wecom_agent_id="1",
        wecom_secret="s",
        wecom_token=WECOM_TOKEN,
        wecom_encoding_aes_key=AES_KEY,
        wecom_api_base="http://127.0.0.1:9",
    )
    app = create_app(configured, store=store_for(fakeredis.FakeRedis(), configured), vlm=None)
    yield app
    runtime_of(app).stop(timeout=1)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def check(
    caplog: pytest.LogCaptureFixture, send: Callable[[Fuzzer], tuple[int, bytes]], *, signed: bool, seed: int
) -> None:
    fuzzer, me = Fuzzer(seed), threading.get_ident()
    with caplog.at_level(logging.WARNING):
        for n in range(ROUNDS):
            caplog.clear()
            status, body = send(fuzzer)
            assert status < 500, (n, status, body[:300])
            if not signed:
                assert status >= 400, (n, status, body[:300])
            # the request's own thread: background turns (replies to the closed API port) log their own failures
            loud = [r for r in caplog.records if r.thread == me and (r.levelno >= logging.ERROR or r.exc_info)]
            assert loud == [], (n, [r.getMessage() for r in loud])


def test_generic_webhook(client: FlaskClient, caplog: pytest.LogCaptureFixture) -> None:
    def send(f: Fuzzer) -> tuple[int, bytes]:
        r = client.post("/webhook/generic", data=f.body(GENERIC), content_type=f.content_type())
        return r.status_code, r.data

    check(caplog, send, signed=True, seed=1)  # open on the embedded defaults: every body is "signed"


@pytest.mark.parametrize("authorized", [True, False])
def test_admin_api(client: FlaskClient, caplog: pytest.LogCaptureFixture, authorized: bool) -> None:
    paths = ["/admin/api/orders/WO-20990101-ABCDE/cancel", "/admin/api/sessions/generic:t:u1/ttl"]

    def send(f: Fuzzer) -> tuple[int, bytes]:
        headers = {**AUTH} if authorized else {"Authorization": f.rng.choice(["", "Bearer x", "Basic Zm9v"])}
        r = client.post(f.rng.choice(paths), data=f.body(ADMIN), content_type=f.content_type(), headers=headers)
        return r.status_code, r.data

    check(caplog, send, signed=authorized, seed=2)


@pytest.mark.parametrize("signed", [True, False])
def test_slack_webhook(client: FlaskClient, caplog: pytest.LogCaptureFixture, signed: bool) -> None:
    def send(f: Fuzzer) -> tuple[int, bytes]:
        body = f.body(f.rng.choice([slack_event(), {"type": "url_verification", "challenge": "c"}]))
        ts = str(int(time.time()))
        signature = slack_signature(ts, body) if signed else f"v0={f.rng.randbytes(8).hex()}"
        headers = {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}
        if not signed and f.rng.random() < 0.3:
            headers = {}
        r = client.post("/webhook/slack", data=body, content_type=f.content_type(), headers=headers)
        return r.status_code, r.data

    check(caplog, send, signed=signed, seed=3)


@pytest.mark.parametrize("signed", [True, False])
def test_feishu_webhook(client: FlaskClient, caplog: pytest.LogCaptureFixture, signed: bool) -> None:
    def send(f: Fuzzer) -> tuple[int, bytes]:
        inner = f.body(f.rng.choice([feishu_event(), {"type": "url_verification", "challenge": "c", "token": "x"}]))
        headers: dict[str, str] = {}
        if signed:  # what Feishu sends with an Encrypt Key: the body encrypted, the encrypted body signed
            plain = inner.decode("utf-8", "replace")
            body = json.dumps({"encrypt": pc.feishu_encrypt(FEISHU_KEY, plain)}).encode()
            ts = str(int(time.time()))
            headers = {
                "X-Lark-Request-Timestamp": ts,
                "X-Lark-Request-Nonce": "n",
                "X-Lark-Signature": pc.feishu_signature(ts, "n", FEISHU_KEY, body),
            }
        else:
            body = inner if f.rng.random() < 0.7 else json.dumps({"encrypt": f.rng.choice(ODD)}).encode()
        r = client.post("/webhook/feishu", data=body, content_type=f.content_type(), headers=headers)
        return r.status_code, r.data

    check(caplog, send, signed=signed, seed=4)


@pytest.mark.parametrize("signed", [True, False])
def test_wecom_webhook(client: FlaskClient, caplog: pytest.LogCaptureFixture, signed: bool) -> None:
    def send(f: Fuzzer) -> tuple[int, bytes]:
        inner = f.body(WECOM_XML)
        ts, nonce = str(int(time.time())), "n1"
        encrypt = pc.wecom_encrypt(AES_KEY, inner, CORP)
        signature = pc.wecom_signature(WECOM_TOKEN, ts, nonce, encrypt) if signed else f.rng.randbytes(20).hex()
        body = f"<xml><ToUserName>{CORP}</ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>".encode()
        if not signed and f.rng.random() < 0.5:
            body = f.body(WECOM_XML)  # not even an envelope
        query = {"msg_signature": signature, "timestamp": ts, "nonce": nonce}
        r = client.post("/webhook/wecom", data=body, query_string=query, content_type=f.content_type())
        return r.status_code, r.data

    check(caplog, send, signed=signed, seed=5)


def test_named_hostile_bodies_get_a_clear_400(client: FlaskClient, caplog: pytest.LogCaptureFixture) -> None:
    """The bodies found by fuzzing the running server, each answered 400 with a reason and one warning."""
    deep = b"[" * 5000 + b"]" * 5000
    with caplog.at_level(logging.WARNING):
        r = client.post("/webhook/generic", data=deep, content_type="application/json")
        assert r.status_code == 400 and "nested deeper" in r.get_json()["error"]
        r = client.post("/admin/api/orders/WO-20990101-ABCDE/cancel", data=deep, headers=AUTH)
        assert r.status_code == 400 and "nested deeper" in r.get_json()["error"]
        for payload in (
            b'{"type": "url_verification", "challenge": "\\ud83d"}',
            json.dumps({**slack_event(), "event_id": "\ud83d"}).encode(),
            json.dumps({**slack_event(), "authorizations": [{"is_bot": True, "user_id": ["U2"]}]}).encode(),
            deep,
        ):
            ts = str(int(time.time()))
            headers = {
                "X-Slack-Request-Timestamp": ts,
                "X-Slack-Signature": slack_signature(ts, payload),
            }
            r = client.post("/webhook/slack", data=payload, content_type="application/json", headers=headers)
            assert r.status_code in (200, 400), (payload[:80], r.status_code, r.data)
    me = threading.get_ident()
    assert not [r for r in caplog.records if r.thread == me and (r.exc_info or r.levelno >= logging.ERROR)]
    refused = [r.getMessage() for r in caplog.records if "nested deeper" in r.getMessage()]
    # one warning line per deep webhook body (the admin API answers its 400s without a log line)
    assert len(refused) == 2
