"""Feishu webhook end to end: events encrypted with pycryptodome (lark-oapi's own AES library, a
test-only dependency; without it, our platform_crypto, pinned by the published vector) and signed
as Feishu does, checked against lark-oapi's dispatcher, sent over HTTP to the real app on real
Redis; replies land on a local fake Feishu API."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from bot.config import Settings
from handlers.platforms import crypto as pc
from tests.fakes.platform_servers import FakeFeishu, json_answer, rate_limited
from tests.support.engine import photo
from tests.support.live import Live, live_app, order_id_in

pytestmark = pytest.mark.integration

try:
    from Crypto.Cipher import AES
    from Crypto.Util.Padding import pad
except ImportError:  # pragma: no cover - pycryptodome comes with lark-oapi in requirements-dev.txt
    AES = None

APP_ID, APP_SECRET = "cli_9f5343c580712544", "feishu-app-secret"
VERIFY_TOKEN, ENCRYPT_KEY = "rvaYgkND1GOiu5MM0E1rncYC6PLtF7JV", "feishu-encrypt-key"
TENANT, OPEN_ID, CHAT = "2ca1d211f64f6438", "ou_84aad35d084aa403a838cf73ee18467", "oc_5ce6d572455d361153b7xx51da133945"


def lark_encrypt(key: str, text: str) -> str:
    if AES is None:
        return pc.feishu_encrypt(key, text)
    iv = os.urandom(16)
    cipher = AES.new(hashlib.sha256(key.encode()).digest(), AES.MODE_CBC, iv)
    return base64.b64encode(iv + cipher.encrypt(pad(text.encode(), 16))).decode()


class FeishuClient:
    """Builds requests as Feishu's event push does: encrypted body, signature headers."""

    _ids = itertools.count(1)

    def __init__(self, live: Live, encrypt_key: str = ENCRYPT_KEY, token: str = VERIFY_TOKEN) -> None:
        self.live, self.encrypt_key, self.token = live, encrypt_key, token

    def signed(self, payload: dict | str, *, encrypt: bool = True, sign: bool = True) -> tuple[bytes, dict]:
        text = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
        body = json.dumps({"encrypt": lark_encrypt(self.encrypt_key, text)}).encode() if encrypt else text.encode()
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if sign:
            ts, nonce = str(int(time.time())), f"nonce-{next(self._ids)}"
            signature = hashlib.sha256((ts + nonce + self.encrypt_key).encode() + body).hexdigest()
            headers.update(
                {"X-Lark-Request-Timestamp": ts, "X-Lark-Request-Nonce": nonce, "X-Lark-Signature": signature}
            )
        return body, headers

    def post(self, payload: dict | str, **kw: Any) -> Any:
        settle = kw.pop("settle", True)
        body, headers = self.signed(payload, **kw)
        return self.live.call("POST", "/webhook/feishu", body=body, headers=headers, settle=settle)

    def event(
        self,
        message_type: str,
        content: dict,
        *,
        message_id: str | None = None,
        event_id: str | None = None,
        sender_type: str = "user",
        open_id: str = OPEN_ID,
    ) -> dict:
        n = next(self._ids)
        return {
            "schema": "2.0",
            "header": {
                "event_id": event_id or f"ev{n:030d}",
                "event_type": "im.message.receive_v1",
                "create_time": str(int(time.time() * 1000)),
                "token": self.token,
                "app_id": APP_ID,
                "tenant_key": TENANT,
            },
            "event": {
                "sender": {"sender_id": {"user_id": "e33ggbyz", "open_id": open_id}, "sender_type": sender_type},
                "message": {
                    "message_id": message_id or f"om_{n:032d}",
                    "root_id": "",
                    "parent_id": "",
                    "create_time": str(int(time.time() * 1000)),
                    "chat_id": CHAT,
                    "chat_type": "p2p",
                    "message_type": message_type,
                    "content": json.dumps(content, ensure_ascii=False),
                    "mentions": [],
                },
            },
        }

    def text(self, text: str, **kw: Any) -> Any:
        return self.post(self.event("text", {"text": text}, **kw))

    def image(self, feishu: FakeFeishu, data: bytes, **kw: Any) -> Any:
        event = self.event("image", {"image_key": f"img_v2_{next(self._ids)}"}, **kw)
        message = event["event"]["message"]
        feishu.add_resource(message["message_id"], json.loads(message["content"])["image_key"], data)
        return self.post(event)

    def location(self, name: str, lat: str, lng: str) -> Any:
        return self.post(self.event("location", {"name": name, "latitude": lat, "longitude": lng}))


@pytest.fixture
def feishu() -> Iterator[FakeFeishu]:
    with FakeFeishu(app_id=APP_ID, app_secret=APP_SECRET) as server:
        yield server


def feishu_settings(settings: Settings, feishu: FakeFeishu, **extra: Any) -> Settings:
    """The app's settings for the fake Feishu (English replies, encryption on)."""
    return settings.with_(
        language="en",
        feishu_app_id=APP_ID,
        feishu_app_secret=APP_SECRET,
        feishu_verification_token=VERIFY_TOKEN,
        feishu_encrypt_key=ENCRYPT_KEY,
        feishu_api_base=feishu.base_url,
        **extra,
    )


@pytest.fixture
def app_settings(settings: Settings, feishu: FakeFeishu, fake_openai: Any) -> Settings:
    return feishu_settings(
        settings,
        feishu,
        vlm_base_url=fake_openai.base_url,
        nlu_base_url="off",
        vlm_api_key="sk-test",
        max_image_bytes=200_000,
        max_body_bytes=64_000,
    )


@pytest.fixture
def live(app_settings: Settings, real_store: Any, orders: Any, storage: Any) -> Iterator[Live]:
    with live_app(app_settings, store=real_store, orders=orders, storage=storage) as app:
        yield app


@pytest.fixture
def client(live: Live) -> FeishuClient:
    return FeishuClient(live)


CHALLENGE = {"challenge": "ajls384kdjx98XX", "token": VERIFY_TOKEN, "type": "url_verification"}


def test_url_verification_encrypted_is_answered_and_plaintext_refused(client: FeishuClient):
    """With FEISHU_ENCRYPT_KEY set, Feishu encrypts every callback, the URL check included (it is not signed)."""
    answer = client.post(CHALLENGE, encrypt=True, sign=False)
    assert answer.status == 200
    assert json.loads(answer.body) == {"challenge": "ajls384kdjx98XX"}
    for sign in (False, True):  # the right verification token in plaintext is not enough, signed or not
        answer = client.post(CHALLENGE, encrypt=False, sign=sign)
        assert answer.status == 400
        assert b"ajls384kdjx98XX" not in answer.body


def test_url_verification_with_a_wrong_token_is_refused(client: FeishuClient):
    answer = client.post({**CHALLENGE, "token": "not-the-token"}, sign=False)
    assert answer.status == 403
    assert b"ajls384kdjx98XX" not in answer.body


def test_report_confirm_and_close(client: FeishuClient, feishu: FakeFeishu, orders: Any):
    answer = client.image(feishu, photo(1))
    assert answer.status == 200 and json.loads(answer.body) == {"msg": "success"}
    client.location("北京市 东城区", "39.90", "116.39")
    confirm = client.event("text", {"text": "确认"})
    client.post(confirm)
    texts = feishu.texts()
    order_id = order_id_in(texts)
    order = orders.get(order_id)
    assert (order.reporter.platform, order.reporter.tenant, order.reporter.user) == ("feishu", TENANT, OPEN_ID)
    assert order.latitude == pytest.approx(39.90) and order.longitude == pytest.approx(116.39)
    # each reply answers the message it responds to
    assert feishu.texts(reply_to=confirm["event"]["message"]["message_id"])[0].startswith("Work order created")

    client.text(f"close {order_id}")
    client.image(feishu, photo(2))
    assert orders.get(order_id).status == "closed"
    assert f"Order {order_id} is closed" in feishu.texts()[-1]
    assert len(feishu.calls("token")) == 1
    reply = feishu.calls("reply")[0]
    assert reply.headers["authorization"].startswith("Bearer t-")
    content = json.loads(reply.json["content"])  # a card when the reply has buttons ("where?" has Cancel)
    assert content["text"] if reply.json["msg_type"] == "text" else content["body"]["elements"][0]["text"]["content"]
    assert 0 < len(reply.json["uuid"]) <= 50


def test_lark_oapi_accepts_the_requests_we_test_with(client: FeishuClient):
    """lark-oapi's own dispatcher decrypts, token-checks and signature-checks our test bodies."""
    lark = pytest.importorskip("lark_oapi")
    from lark_oapi.core.model import RawRequest

    seen: list[Any] = []
    handler = (
        lark.EventDispatcherHandler.builder(ENCRYPT_KEY, VERIFY_TOKEN)
        .register_p2_im_message_receive_v1(seen.append)
        .build()
    )
    body, headers = client.signed(client.event("text", {"text": "开始巡检"}))
    req = RawRequest()
    req.uri, req.body, req.headers = "/webhook/feishu", body, headers
    assert handler.do(req).status_code == 200
    assert json.loads(seen[0].event.message.content) == {"text": "开始巡检"}
    req.headers = {**headers, "X-Lark-Signature": "0" * 64}
    assert handler.do(req).status_code == 500  # the SDK's way of refusing


def test_wrong_or_missing_signature_is_refused(client: FeishuClient, feishu: FakeFeishu, live: Live):
    body, headers = client.signed(client.event("text", {"text": "help"}))
    assert (
        live.call("POST", "/webhook/feishu", body=body, headers={**headers, "X-Lark-Signature": "0" * 64}).status == 401
    )
    assert live.call("POST", "/webhook/feishu", body=body + b" ", headers=headers).status == 401
    unsigned = {k: v for k, v in headers.items() if not k.startswith("X-Lark")}
    assert live.call("POST", "/webhook/feishu", body=body, headers=unsigned).status == 401
    assert feishu.requests == []


def test_wrong_verification_token_in_a_signed_event_is_refused(live: Live, feishu: FakeFeishu):
    client = FeishuClient(live, token="someone-elses-token")
    assert client.text("help").status == 403
    assert feishu.requests == []


def test_undecryptable_body_is_400(live: Live, feishu: FakeFeishu):
    wrong_key = FeishuClient(live, encrypt_key="another key")
    body, headers = wrong_key.signed(wrong_key.event("text", {"text": "help"}), sign=False)
    client = FeishuClient(live)
    _, signed = client.signed("{}", encrypt=False)
    ts, nonce = signed["X-Lark-Request-Timestamp"], signed["X-Lark-Request-Nonce"]
    headers.update(
        {
            "X-Lark-Request-Timestamp": ts,
            "X-Lark-Request-Nonce": nonce,
            "X-Lark-Signature": hashlib.sha256((ts + nonce + ENCRYPT_KEY).encode() + body).hexdigest(),
        }
    )
    answer = live.call("POST", "/webhook/feishu", body=body, headers=headers)
    assert answer.status == 400
    assert ENCRYPT_KEY not in answer.text
    assert feishu.requests == []


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'{"encrypt": 42}'])
def test_malformed_json_is_400(live: Live, body: bytes):
    answer = live.call("POST", "/webhook/feishu", body=body, headers={"Content-Type": "application/json"})
    assert answer.status == 400


def test_malformed_content_inside_a_valid_event_is_400(client: FeishuClient):
    event = client.event("text", {"text": "x"})
    event["event"]["message"]["content"] = "{broken"
    assert client.post(event).status == 400


def test_redelivery_by_event_id_and_by_message_id_creates_one_order(
    client: FeishuClient, feishu: FakeFeishu, orders: Any
):
    client.image(feishu, photo(3))
    client.location("Gate 4", "39.9", "116.4")
    confirm = client.event("text", {"text": "confirm"})
    client.post(confirm)
    client.post(confirm)  # the same event again (a retry after a slow answer)
    again = json.loads(json.dumps(confirm))
    again["header"]["event_id"] = "ev-a-new-push-of-the-same-message"
    client.post(again)  # a re-push: new event_id, same message_id
    assert len([t for t in feishu.texts() if t.startswith("Work order created")]) == 1
    page, _ = orders.list()
    assert len(page) == 1


def test_image_over_the_cap_is_refused_politely(client: FeishuClient, feishu: FakeFeishu):
    client.image(feishu, photo(4) + os.urandom(250_000))
    assert "too large" in feishu.texts()[-1]


def test_a_sticker_gets_a_polite_answer_and_an_app_message_is_ignored(client: FeishuClient, feishu: FakeFeishu):
    client.post(client.event("text", {"text": "hello"}, sender_type="app"))
    assert feishu.requests == []
    client.post(client.event("sticker", {"file_key": "sticker_1"}))
    assert feishu.texts() == ['I understand text, photos and locations. Send a photo to report a problem, or "help".']


def test_other_event_types_are_acknowledged_and_ignored(client: FeishuClient, feishu: FakeFeishu):
    event = client.event("text", {"text": "x"})
    event["header"]["event_type"] = "im.chat.member.bot.added_v1"
    assert client.post(event).status == 200
    assert feishu.requests == []


def test_token_expiry_mid_conversation_refreshes_once(client: FeishuClient, feishu: FakeFeishu):
    client.text("help")
    feishu.expire_tokens()
    client.text("status")
    assert len(feishu.texts()) == 2
    assert len(feishu.calls("token")) == 2
    feishu.expire_tokens()
    feishu.script("reaction", json_answer({"code": 0, "msg": "success"}))  # the "OK" reaction does not use it up
    client.image(feishu, photo(9))  # the resource download meets the expired token first
    first, second = (c.headers["authorization"] for c in feishu.calls("resource"))
    assert first != second and len(feishu.calls("token")) == 3
    assert feishu.texts()[2].startswith("I see:")


def test_rate_limit_is_retried_after_retry_after(client: FeishuClient, feishu: FakeFeishu):
    feishu.script("reply", rate_limited(retry_after=1, body={"code": 99991400, "msg": "too many requests"}))
    started = time.perf_counter()
    client.text("help")
    assert time.perf_counter() - started >= 1.0
    assert len(feishu.texts()) == 1
    assert len(feishu.calls("reply")) == 2


def test_a_withdrawn_message_is_answered_in_the_chat(client: FeishuClient, feishu: FakeFeishu):
    feishu.script("reply", json_answer({"code": 230011, "msg": "The message was withdrawn."}, 400))
    client.text("help")
    assert feishu.texts(receive_id=CHAT, receive_id_type="chat_id")


def test_the_ack_does_not_wait_for_the_turn(client: FeishuClient, feishu: FakeFeishu, fake_openai: Any, live: Live):
    fake_openai.delay(2.0, times=1)
    event = client.event("image", {"image_key": "img_slow"})
    feishu.add_resource(event["event"]["message"]["message_id"], "img_slow", photo(5))
    answer = client.post(event, settle=False)
    assert answer.status == 200
    assert answer.seconds < 1.0
    live.settle()
    assert feishu.texts()
