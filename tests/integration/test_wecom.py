"""WeCom webhook end to end: requests encrypted and signed by wechatpy (a second implementation,
a test-only dependency; without it, by our own platform_crypto, itself pinned by the published
vectors), sent over HTTP to the real app on real Redis; replies land on a local fake WeCom API."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
from defusedxml.ElementTree import fromstring

from bot.config import Settings
from bot.replies import say
from handlers.platforms import crypto as pc
from tests.fakes.platform_servers import FakeWeCom, json_answer, rate_limited, server_error
from tests.support.engine import photo
from tests.support.live import Live, live_app, order_id_in
from tests.support.wecom import AES_KEY

pytestmark = pytest.mark.integration

try:
    from wechatpy.crypto import _get_signature
    from wechatpy.enterprise import crypto as enterprise
except ImportError:  # pragma: no cover - wechatpy is in requirements-dev.txt
    enterprise = None
    _get_signature = pc.wecom_signature

CORP, AGENT, TOKEN = "ww1436e0e65a779aee", "1000002", "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo"
USER = "zhangsan"


class WeComClient:
    """Builds requests exactly as WeCom sends them, with wechatpy's crypto."""

    def __init__(self, live: Live, corp_id: str = CORP) -> None:
        self.live = live
        self.corp_id = corp_id
        self._msg = 7300000000000000000
        self._now = 1700000000

    def url_check(self, echo: str = "1288432023552776189", nonce: str = "47744683", **tamper: str) -> Any:
        if enterprise is not None:
            key = enterprise.WeChatCrypto(TOKEN, AES_KEY, self.corp_id).key
            echostr = enterprise.PrpCrypto(key).encrypt(echo, self.corp_id)
            echostr = echostr.decode() if isinstance(echostr, bytes) else echostr
        else:
            echostr = pc.wecom_encrypt(AES_KEY, echo.encode(), self.corp_id)
        ts = "1476416373"
        query = {
            "msg_signature": _get_signature(TOKEN, ts, nonce, echostr),
            "timestamp": ts,
            "nonce": nonce,
            "echostr": echostr,
            **tamper,
        }
        return self.live.call("GET", "/webhook/wecom", query=query)

    def envelope(self, plaintext: str, nonce: str = "1597212914") -> tuple[bytes, dict[str, str]]:
        ts = str(int(time.time()))
        if enterprise is not None:
            reply = enterprise.WeChatCrypto(TOKEN, AES_KEY, self.corp_id).encrypt_message(plaintext, nonce, ts)
        else:
            reply = pc.wecom_envelope(TOKEN, AES_KEY, self.corp_id, plaintext.encode(), ts, nonce)
        root = fromstring(reply)
        body = (
            f"<xml><ToUserName><![CDATA[{self.corp_id}]]></ToUserName><AgentID><![CDATA[{AGENT}]]></AgentID>"
            f"<Encrypt><![CDATA[{root.findtext('Encrypt')}]]></Encrypt></xml>"
        ).encode()
        return body, {"msg_signature": root.findtext("MsgSignature"), "timestamp": ts, "nonce": nonce}

    def post_plain(self, plaintext: str, **kw: Any) -> Any:
        body, query = self.envelope(plaintext)
        return self.live.call("POST", "/webhook/wecom", body=body, query=query, **kw)

    def message(self, msg_type: str, fields: str, user: str = USER, msg_id: int | None = None, **_: Any) -> str:
        if msg_id is None:
            self._msg += 1
            msg_id = self._msg
        self._now += 1
        return (
            f"<xml><ToUserName><![CDATA[{self.corp_id}]]></ToUserName><FromUserName><![CDATA[{user}]]></FromUserName>"
            f"<CreateTime>{self._now}</CreateTime><MsgType><![CDATA[{msg_type}]]></MsgType>{fields}"
            f"<MsgId>{msg_id}</MsgId><AgentID>{AGENT}</AgentID></xml>"
        )

    def text(self, content: str, **kw: Any) -> Any:
        return self.post_plain(self.message("text", f"<Content><![CDATA[{content}]]></Content>", **kw))

    def image(self, media_id: str, settle: bool = True, **kw: Any) -> Any:
        fields = f"<PicUrl><![CDATA[http://127.0.0.1:9/nothing]]></PicUrl><MediaId><![CDATA[{media_id}]]></MediaId>"
        return self.post_plain(self.message("image", fields, **kw), settle=settle)

    def location(self, lat: str, lng: str, label: str, **kw: Any) -> Any:
        fields = (
            f"<Location_X>{lat}</Location_X><Location_Y>{lng}</Location_Y><Scale>20</Scale>"
            f"<Label><![CDATA[{label}]]></Label><AppType><![CDATA[wxwork]]></AppType>"
        )
        return self.post_plain(self.message("location", fields, **kw))


@pytest.fixture
def wecom() -> Iterator[FakeWeCom]:
    with FakeWeCom(corp_id=CORP, secret="wecom-app-secret") as server:
        yield server


def wecom_settings(settings: Settings, wecom: FakeWeCom, **extra: Any) -> Settings:
    """The app's settings for the fake WeCom (English replies)."""
    return settings.with_(
        language="en",
        wecom_corp_id=CORP,
        wecom_agent_id=AGENT,
        wecom_secret=wecom.secret,
        wecom_token=TOKEN,
        wecom_encoding_aes_key=AES_KEY,
        wecom_api_base=wecom.base_url,
        **extra,
    )


@pytest.fixture
def app_settings(settings: Settings, wecom: FakeWeCom, fake_openai: Any) -> Settings:
    return wecom_settings(
        settings,
        wecom,
        vlm_base_url=fake_openai.base_url,
        nlu_base_url="off",  # the VLM's endpoint answers photos here, not free text
        vlm_api_key="sk-test",
        max_image_bytes=200_000,
        max_body_bytes=64_000,
    )


@pytest.fixture
def live(app_settings: Settings, real_store: Any, orders: Any, storage: Any) -> Iterator[Live]:
    with live_app(app_settings, store=real_store, orders=orders, storage=storage) as app:
        yield app


@pytest.fixture
def client(live: Live) -> WeComClient:
    return WeComClient(live)


def test_url_check_echoes_the_decrypted_echostr(client: WeComClient):
    answer = client.url_check()
    assert answer.status == 200
    assert answer.body == b"1288432023552776189"


def test_url_check_with_a_wrong_nonce_is_refused(client: WeComClient):
    answer = client.url_check(nonce="47744683", timestamp="1476416374")
    assert answer.status == 401
    assert b"1288432023552776189" not in answer.body


def test_url_check_for_another_corp_is_refused(live: Live):
    answer = WeComClient(live, corp_id="wwSomeoneElse00000").url_check()
    assert answer.status == 403


def test_report_confirm_and_close(client: WeComClient, wecom: FakeWeCom, live: Live, orders: Any):
    wecom.add_media("MEDIA_REPORT", photo(1))
    wecom.add_media("MEDIA_FIXED", photo(2))

    answer = client.image("MEDIA_REPORT")
    assert answer.status == 200 and answer.body == b""
    assert wecom.calls("media")[0].query["media_id"] == "MEDIA_REPORT"
    client.location("23.134521", "113.358803", "广州市 3号楼 B1")
    client.text("确认")
    texts = wecom.sent_texts(USER)
    order_id = order_id_in(texts)
    order = orders.get(order_id)
    assert order is not None and order.status == "open"
    assert (order.reporter.platform, order.reporter.tenant, order.reporter.user) == ("wecom", CORP, USER)
    assert order.latitude == pytest.approx(23.134521) and order.longitude == pytest.approx(113.358803)
    assert "3号楼" in order.location_text

    client.text(f"结单 {order_id}")
    client.image("MEDIA_FIXED")
    assert orders.get(order_id).status == "closed"
    assert f"Order {order_id} is closed" in wecom.sent_texts(USER)[-1]
    sent = wecom.sent(USER)[0]
    assert sent["agentid"] == int(AGENT) and sent["msgtype"] == "text" and sent["touser"] == USER
    assert len(wecom.calls("gettoken")) == 1  # one token, cached in Redis, for the whole conversation
    assert live.runtime.store.redis.exists(live.runtime.store.key("token", "wecom", f"{CORP}-{AGENT}"))


def test_wrong_signature_is_refused_and_nothing_happens(client: WeComClient, wecom: FakeWeCom, live: Live):
    body, query = client.envelope(client.message("text", "<Content><![CDATA[help]]></Content>"))
    query["msg_signature"] = "0" * 40
    answer = live.call("POST", "/webhook/wecom", body=body, query=query)
    assert answer.status == 401
    del query["msg_signature"]
    assert live.call("POST", "/webhook/wecom", body=body, query=query).status == 401
    assert wecom.requests == []
    assert live.runtime.store.load(f"wecom:{CORP}:{USER}") is None


def test_undecryptable_body_is_400(live: Live, wecom: FakeWeCom):
    encrypt = "bm90IGEgcmVhbCBjaXBoZXJ0ZXh0IGF0IGFsbCEh"  # base64, wrong length for AES
    ts, nonce = str(int(time.time())), "1"
    body = f"<xml><ToUserName>{CORP}</ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>".encode()
    query = {"msg_signature": _get_signature(TOKEN, ts, nonce, encrypt), "timestamp": ts, "nonce": nonce}
    answer = live.call("POST", "/webhook/wecom", body=body, query=query)
    assert answer.status == 400
    assert AES_KEY not in answer.text and TOKEN not in answer.text
    assert wecom.requests == []


def test_a_signed_request_older_than_the_dedupe_window_is_refused(client: WeComClient, wecom: FakeWeCom, live: Live):
    body, query = client.envelope(client.message("text", "<Content><![CDATA[help]]></Content>"))
    old = str(int(time.time()) - live.runtime.settings.dedupe_ttl_seconds - 60)
    encrypt = fromstring(body).findtext("Encrypt")
    query.update(timestamp=old, msg_signature=_get_signature(TOKEN, old, query["nonce"], encrypt))
    assert live.call("POST", "/webhook/wecom", body=body, query=query).status == 401
    assert wecom.requests == []


def _post_unsigned(live: Live, body: bytes) -> Any:
    """A body refused before its signature is checked (the envelope must be read first)."""
    return live.call("POST", "/webhook/wecom", body=body, query={"msg_signature": "x", "timestamp": "1", "nonce": "2"})


def test_malformed_xml_is_400(live: Live):
    answer = _post_unsigned(live, b"<xml><Encrypt>abc</Encr")
    assert answer.status == 400
    assert "malformed XML" in answer.text


def test_entity_declarations_are_refused(live: Live, client: WeComClient, wecom: FakeWeCom):
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
        b"<xml><Encrypt>&b;</Encrypt></xml>"
    )
    answer = _post_unsigned(live, bomb)
    assert answer.status == 400
    assert "refused" in answer.text
    # the same trick inside a correctly signed and encrypted message
    inner = '<!DOCTYPE xml [<!ENTITY who "admin">]><xml><FromUserName>&who;</FromUserName></xml>'
    assert client.post_plain(inner).status == 400
    assert wecom.requests == []


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_a_dtd_in_utf16_is_refused_too(live: Live, encoding: str):
    """Plain bodies go to the C parser; one that could hide a DTD from a byte search (UTF-16) goes to defusedxml."""
    bomb = (
        f'<?xml version="1.0" encoding="{encoding}"?><!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa">]>'
        "<xml><Encrypt>&a;</Encrypt></xml>"
    ).encode(encoding)
    answer = _post_unsigned(live, bomb)
    assert answer.status == 400
    assert "refused" in answer.text or "malformed XML" in answer.text  # a reason, not the parser-bug catch-all


def test_an_entity_without_a_dtd_is_malformed(live: Live):
    answer = _post_unsigned(live, b"<xml><Encrypt>&xxe;</Encrypt></xml>")
    assert answer.status == 400 and "malformed XML" in answer.text


def test_redelivered_confirm_creates_one_order(client: WeComClient, wecom: FakeWeCom, live: Live, orders: Any):
    wecom.add_media("M1", photo(3))
    client.image("M1")
    client.location("23.1", "113.3", "Gate 4")
    confirm = client.message("text", "<Content><![CDATA[confirm]]></Content>", msg_id=7399999999999999999)
    for _ in range(3):
        assert client.post_plain(confirm).status == 200
    created = [t for t in wecom.sent_texts(USER) if "Work order created" in t]
    assert len(created) == 1
    page, _ = orders.list()
    assert len(page) == 1


def test_image_over_the_cap_is_refused_politely(client: WeComClient, wecom: FakeWeCom, live: Live):
    wecom.add_media("BIG", photo(4) + os.urandom(250_000))  # a JPEG with a long tail is still a JPEG
    assert len(wecom.media["BIG"][0]) > live.runtime.settings.max_image_bytes
    client.image("BIG")
    assert "too large" in wecom.sent_texts(USER)[-1]
    assert live.runtime.store.load(f"wecom:{CORP}:{USER}").state == "idle"


def test_unknown_media_id_tells_the_user_to_resend(client: WeComClient, wecom: FakeWeCom):
    client.image("NO_SUCH_MEDIA")
    assert "did not come through" in wecom.sent_texts(USER)[-1]


def test_events_are_ignored_and_voice_is_a_turn_of_its_own(client: WeComClient, wecom: FakeWeCom):
    event = (
        f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><FromUserName><![CDATA[{USER}]]></FromUserName>"
        f"<CreateTime>1700000000</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        f"<Event><![CDATA[enter_agent]]></Event><AgentID>{AGENT}</AgentID></xml>"
    )
    assert client.post_plain(event).status == 200
    assert wecom.requests == []
    client.post_plain(client.message("voice", "<MediaId><![CDATA[v1]]></MediaId><Format>amr</Format>"))
    # A voice note is no longer dropped: its AMR is fetched by MediaId and the turn answers once (what it says is
    # the conversation's: tests/integration/test_voice_platforms.py follows the note to the engine).
    assert [c.query["media_id"] for c in wecom.calls("media")] == ["v1"]
    assert len(wecom.sent_texts(USER)) == 1


def test_token_expiry_mid_conversation_refreshes_once(client: WeComClient, wecom: FakeWeCom):
    client.text("help")
    wecom.expire_tokens()
    client.text("status")
    assert len(wecom.sent_texts(USER)) == 2
    assert len(wecom.calls("gettoken")) == 2
    assert [c.json["text"]["content"] for c in wecom.calls("send")][1] == wecom.sent_texts(USER)[1]
    wecom.expire_tokens()
    wecom.add_media("AFTER_EXPIRY", photo(9))
    wecom.script("send", json_answer({"errcode": 0, "errmsg": "ok"}))  # "analysing…" does not use the token up
    client.image("AFTER_EXPIRY")  # the download meets the expired token first
    assert [c.query["media_id"] for c in wecom.calls("media")] == ["AFTER_EXPIRY", "AFTER_EXPIRY"]
    assert wecom.sent_texts(USER)[2].startswith("I see:")
    assert len(wecom.calls("gettoken")) == 3


def test_rate_limit_and_server_errors_are_retried(client: WeComClient, wecom: FakeWeCom):
    wecom.script("send", rate_limited(retry_after=0, body={"errcode": 45009, "errmsg": "api freq out of limit"}))
    wecom.script("send", server_error())
    client.text("help")
    assert len(wecom.sent_texts(USER)) == 1
    assert len(wecom.calls("send")) == 3


def test_body_over_the_limit_is_413(live: Live, app_settings: Settings):
    big = b"<xml>" + b"a" * (app_settings.max_body_bytes + 1) + b"</xml>"
    answer = live.call("POST", "/webhook/wecom", body=big, query={"msg_signature": "x", "timestamp": "1", "nonce": "2"})
    assert answer.status == 413


def test_wecom_off_without_settings(settings: Settings, real_store: Any, orders: Any, storage: Any):
    with live_app(settings, store=real_store, orders=orders, storage=storage) as app:
        assert app.call("GET", "/webhook/wecom", query={"echostr": "x"}).status == 404


def test_the_ack_is_empty_and_fast_while_the_vlm_is_slow(
    client: WeComClient, wecom: FakeWeCom, fake_openai: Any, live: Live
):
    fake_openai.delay(3.0, times=1)
    wecom.add_media("SLOW", photo(5))
    answer = client.image("SLOW", settle=False)
    assert (answer.status, answer.body) == (200, b"")
    assert answer.seconds < 1.0
    deadline = time.monotonic() + 2.0  # instant feedback: the user hears within 2 s, long before the VLM answers
    while not wecom.sent_texts(USER) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert wecom.sent_texts(USER) == [say("en", "photo_being_analysed")]
    live.settle()
    assert wecom.sent_texts(USER)[1].startswith("I see:")
