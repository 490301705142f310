"""The pure parts of the platform modules: parse outcomes, text splitting, retry timing, token cache."""

from __future__ import annotations

import json
import time

import fakeredis
import pytest
from slack_sdk.signature import SignatureVerifier

from bot.config import Settings
from bot.messages import Location
from handlers.platforms import crypto as pc
from handlers.platforms import feishu, slack, wecom
from handlers.platforms.base import Accepted, Handshake, Ignored, Rejected, WebhookRequest
from handlers.platforms.job import Job
from handlers.platforms.outbound import RetryPolicy, deliver, fail, retry, split_utf8
from handlers.platforms.tokens import TokenSource
from tests.support.engine import store_for

CORP, AES_KEY, TOKEN = "ww1436e0e65a779aee", "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt", "tok"
WECOM = Settings(
    wecom_corp_id=CORP, wecom_agent_id="1000002", wecom_secret="s", wecom_token=TOKEN, wecom_encoding_aes_key=AES_KEY
)


def _wecom_post(plaintext: str, ts: int | None = None) -> object:
    encrypt = pc.wecom_encrypt(AES_KEY, plaintext.encode(), CORP)
    stamp = str(ts if ts is not None else int(time.time()))
    query = {"msg_signature": pc.wecom_signature(TOKEN, stamp, "2", encrypt), "timestamp": stamp, "nonce": "2"}
    return wecom.parse(
        WECOM, WebhookRequest("POST", f"<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>".encode(), query=query)
    )


def test_signed_but_older_than_the_dedupe_window_is_refused():
    """A replay is either still remembered as seen (24 h) or refused as stale; WeCom and Feishu alike."""
    text = "<xml><FromUserName>li</FromUserName><MsgType>text</MsgType><Content>x</Content><MsgId>1</MsgId></xml>"
    assert isinstance(_wecom_post(text, int(time.time()) - 3600), Accepted)
    with pytest.raises(Rejected) as err:
        _wecom_post(text, int(time.time()) - WECOM.dedupe_ttl_seconds - 60)
    assert err.value.status == 401
    settings = FEISHU.with_(feishu_encrypt_key="k")
    # with an Encrypt Key set, Feishu encrypts the body and signs the encrypted body
    body = json.dumps({"encrypt": pc.feishu_encrypt("k", _feishu_event("text", {"text": "hi"}).decode())}).encode()
    stale = str(int(time.time()) - settings.dedupe_ttl_seconds - 60)
    headers = {
        "X-Lark-Request-Timestamp": stale,
        "X-Lark-Request-Nonce": "n",
        "X-Lark-Signature": pc.feishu_signature(stale, "n", "k", body),
    }
    with pytest.raises(Rejected) as err:
        feishu.parse(settings, WebhookRequest("POST", body, headers))
    assert err.value.status == 401
    fresh_ts = str(int(time.time()))
    headers = {
        "x-lark-request-timestamp": fresh_ts,
        "x-lark-request-nonce": "n",
        "x-lark-signature": pc.feishu_signature(fresh_ts, "n", "k", body),
    }
    assert isinstance(feishu.parse(settings, WebhookRequest("POST", body, headers)), Accepted)


def test_wecom_echostr_with_a_plus_decoded_as_space_still_verifies():
    echostr = "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="
    settings = Settings(
        wecom_corp_id="wx5823bf96d3bd56c7",
        wecom_token="QDG6eK",
        wecom_encoding_aes_key="jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
    )
    query = {
        "msg_signature": "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3",
        "timestamp": "1409659589",
        "nonce": "263014780",
        "echostr": echostr.replace("+", " "),
    }
    assert wecom.parse(settings, WebhookRequest("GET", b"", query=query)) == Handshake("1616140317555161061")


def test_wecom_messages_become_jobs():
    out = _wecom_post(
        "<xml><FromUserName>li</FromUserName><MsgType>location</MsgType><Location_X>23.1</Location_X>"
        "<Location_Y>113.3</Location_Y><Label>Gate</Label><MsgId>9</MsgId><AgentID>1000002</AgentID></xml>"
    )
    assert isinstance(out, Accepted) and out.dedupe == ("9",)
    assert Job.from_json(out.job.to_json()) == out.job  # the turn stream carries it as JSON
    incoming = out.job.incoming()
    assert incoming.session_key == f"wecom:{CORP}:li"
    assert (incoming.kind, incoming.location.latitude, incoming.location.longitude) == ("location", 23.1, 113.3)


def test_wecom_other_agent_and_events_are_ignored():
    assert isinstance(
        _wecom_post(
            "<xml><FromUserName>li</FromUserName><MsgType>text</MsgType><Content>x</Content>"
            "<MsgId>1</MsgId><AgentID>42</AgentID></xml>"
        ),
        Ignored,
    )
    assert isinstance(
        _wecom_post("<xml><FromUserName>li</FromUserName><MsgType>event</MsgType><Event>subscribe</Event></xml>"),
        Ignored,
    )


def test_wecom_non_numeric_agent_id_is_not_enabled():
    assert wecom.enabled(WECOM)
    assert not wecom.enabled(WECOM.with_(wecom_agent_id="agent"))


FEISHU = Settings(feishu_app_id="cli_1", feishu_app_secret="s", feishu_verification_token="vt")


def _feishu_event(message_type: str, content: dict) -> bytes:
    return json.dumps(
        {
            "schema": "2.0",
            "header": {"event_id": "e1", "event_type": "im.message.receive_v1", "token": "vt", "tenant_key": "tk"},
            "event": {
                "sender": {"sender_id": {"open_id": "ou_1"}, "sender_type": "user"},
                "message": {
                    "message_id": "om_1",
                    "chat_id": "oc_1",
                    "message_type": message_type,
                    "content": json.dumps(content),
                },
            },
        }
    ).encode()


def test_feishu_post_with_a_picture_is_an_image_and_mentions_are_dropped():
    post = {
        "title": "",
        "content": [
            [
                {"tag": "at", "user_id": "@_user_1"},
                {"tag": "text", "text": "leak here"},
                {"tag": "img", "image_key": "img_1"},
            ]
        ],
    }
    out = feishu.parse(FEISHU, WebhookRequest("POST", _feishu_event("post", post)))
    assert isinstance(out, Accepted)
    assert out.job.kind == "image"
    assert out.job.images == ({"message_id": "om_1", "file_key": "img_1", "type": "image"},)
    assert out.dedupe == ("om_1",)  # one claim: a retry and a re-push under a new event_id both repeat it
    text = feishu.parse(FEISHU, WebhookRequest("POST", _feishu_event("text", {"text": "@_user_1 确认"})))
    assert text.job.text == "确认"
    assert isinstance(
        feishu.parse(FEISHU, WebhookRequest("POST", _feishu_event("text", {"text": "@_user_1"}))), Ignored
    )


def test_feishu_without_an_encrypt_key_refuses_encrypted_bodies():
    with pytest.raises(Rejected) as err:
        feishu.parse(FEISHU, WebhookRequest("POST", json.dumps({"encrypt": "abc"}).encode()))
    assert err.value.status == 400


def _slack(payload: dict, now: float | None = None) -> object:
    body = json.dumps(payload).encode()
    ts = str(int(now or time.time()))
    verifier = SignatureVerifier("sec")
    headers = {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": verifier.generate_signature(timestamp=ts, body=body),
    }
    return slack.parse(
        Settings(slack_signing_secret="sec", slack_bot_token="xoxb"), WebhookRequest("POST", body, headers)
    )


def test_slack_text_is_unescaped_and_keyed_by_team_and_user():
    out = _slack(
        {
            "type": "event_callback",
            "team_id": "T1",
            "event_id": "Ev1",
            "event": {"type": "message", "user": "U1", "channel": "D1", "ts": "1.2", "text": "a &amp; b &lt;"},
        }
    )
    # deduped on channel + ts: a mention delivered as app_mention and as message is one message
    assert isinstance(out, Accepted) and out.dedupe == ("D1-1.2",)
    incoming = out.job.incoming()
    assert (incoming.session_key, incoming.text, incoming.event_id) == ("slack:T1:U1", "a & b <", "D1-1.2")


def test_slack_ssl_check_and_app_rate_limited_are_ignored():
    assert isinstance(_slack({"type": "app_rate_limited", "team_id": "T1"}), Ignored)


def test_split_utf8_keeps_every_piece_under_the_limit():
    text = "\n".join(["巡检" * 300, "ok", "x" * 5000])
    pieces = split_utf8(text, 2048)
    assert all(len(p.encode()) <= 2048 for p in pieces)
    assert "".join(pieces).replace("\n", "") == text.replace("\n", "")
    assert split_utf8("short", 2048) == ["short"]


def test_retry_policy_respects_retry_after_with_a_cap():
    policy = RetryPolicy(base_seconds=0.5, cap_seconds=10)
    assert policy.wait(1, None) == 0.5 and policy.wait(3, None) == 2.0
    assert policy.wait(1, 3) == 3 and policy.wait(1, 3600) == 10


def test_deliver_retries_transient_failures_and_stops_on_permanent_ones():
    slept: list[float] = []
    answers = iter([retry("429", 2), retry("502"), fail("not_in_channel")])
    policy = RetryPolicy(attempts=5, base_seconds=0.1, sleep=slept.append)
    assert deliver(lambda: next(answers), policy=policy, platform="t", session="t:x:y") is False
    assert slept == [2, 0.2]

    def boom():
        raise RuntimeError("bug")

    assert deliver(boom, policy=policy, platform="t", session="t:x:y") is False  # never raises into the turn


def test_token_source_caches_with_a_margin_and_invalidates_only_the_stale_token(settings: Settings):
    store = store_for(fakeredis.FakeRedis(), settings)
    issued = iter(["tok-1", "tok-2"])
    source = TokenSource(store, "wecom", "corp-1", lambda: (next(issued), 7200), margin_seconds=300)
    assert source.get() == "tok-1" and source.get() == "tok-1"
    assert 6800 < store.redis.ttl(store.key("token", "wecom", "corp-1")) <= 6900
    source.invalidate("tok-0")  # someone else's stale token: keep ours
    assert source.get() == "tok-1"
    source.invalidate("tok-1")
    assert source.get() == "tok-2"


def test_a_lone_surrogate_from_a_platform_cannot_break_the_session_save():
    job = Job("slack", "T1", "U1", "location", text="b\ud800", location=Location("gate \udfff", 1.0, 2.0))
    incoming = job.incoming()
    assert incoming.text == "b?"
    assert incoming.location is not None and incoming.location.label == "gate ?"
    incoming.text.encode("utf-8")  # storable
