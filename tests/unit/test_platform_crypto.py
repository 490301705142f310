"""Every published vector in PLATFORMS.md, plus cross-checks against the platforms' own SDK code."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import urllib.parse

import pytest
from defusedxml.ElementTree import fromstring
from slack_sdk.signature import Clock, SignatureVerifier

from handlers.platforms import crypto as pc

# --- Slack (slack-sdk tests) ---------------------------------------------------------------------------------

SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SLACK_TS = "1531420618"
SLACK_BODY = (
    "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    "&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    "&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    "&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
SLACK_SIG = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


class FixedClock(Clock):
    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


def _slack(now: float) -> SignatureVerifier:
    return SignatureVerifier(SLACK_SECRET, clock=FixedClock(now))


def test_slack_vector_accepted_with_pinned_clock():
    headers = {"X-Slack-Request-Timestamp": SLACK_TS, "X-Slack-Signature": SLACK_SIG}
    assert _slack(1531420618).generate_signature(timestamp=SLACK_TS, body=SLACK_BODY) == SLACK_SIG
    assert pc.slack_check_signature(SLACK_SECRET, SLACK_BODY.encode(), headers, _slack(1531420618))


@pytest.mark.parametrize("now", [1531420618 + 301, 1531420618 - 301])
def test_slack_vector_outside_five_minutes_refused(now):
    headers = {"x-slack-request-timestamp": SLACK_TS, "x-slack-signature": SLACK_SIG}
    assert not pc.slack_check_signature(SLACK_SECRET, SLACK_BODY.encode(), headers, _slack(now))


@pytest.mark.parametrize(
    "headers, body",
    [
        ({"X-Slack-Request-Timestamp": SLACK_TS, "X-Slack-Signature": SLACK_SIG}, SLACK_BODY.encode() + b"x"),
        ({"X-Slack-Request-Timestamp": SLACK_TS}, SLACK_BODY.encode()),
        ({"X-Slack-Request-Timestamp": "soon", "X-Slack-Signature": SLACK_SIG}, SLACK_BODY.encode()),
        ({"X-Slack-Request-Timestamp": SLACK_TS, "X-Slack-Signature": SLACK_SIG}, b"\xff\xfe"),
    ],
)
def test_slack_tampered_or_malformed_refused(headers, body):
    assert not pc.slack_check_signature(SLACK_SECRET, body, headers, _slack(1531420618))


# --- WeCom set A (wechatpy tests/test_crypto.py) ---------------------------------------------------------------

A_TOKEN, A_KEY, A_CORP = "123456", "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR", "wx49f0ab532d5d035a"
A_ECHO = "4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF6p+Q=="
A_IN_ENCRYPT = (
    "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTyeDXzF6Bv283dGymzx"
    "h6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQ"
    "qGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7F"
    "S709/5t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0="
)
A_OUT_PLAIN = (
    "<xml>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n"
    "<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>\n<ToUserName><![CDATA[messense]]></ToUserName>\n"
    "<AgentID>1</AgentID>\n<CreateTime>1411525903</CreateTime>\n</xml>"
)
A_OUT_ENCRYPT = (
    "9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNcBqGsL8GqxlhZgURnAtObve"
    "sEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY0nFhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRrr"
    "NrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsVbwbgX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQ"
    "Jz0nTYjxxEE8kv3kFxtAGVRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3"
)


def test_wecom_a_url_check():
    assert pc.wecom_check_signature(
        A_TOKEN, "1411443780", "437374425", A_ECHO, "dd6b9c95b495b3f7e2901bfbc76c664930ffdb96"
    )
    assert pc.wecom_decrypt(A_KEY, A_ECHO, A_CORP) == b"5927782489442352469"


def test_wecom_a_wrong_nonce_fails():
    assert not pc.wecom_check_signature(
        A_TOKEN, "1411443780", "437374424", A_ECHO, "dd6b9c95b495b3f7e2901bfbc76c664930ffdb96"
    )


def test_wecom_a_inbound():
    assert pc.wecom_check_signature(
        A_TOKEN, "1411525903", "461056294", A_IN_ENCRYPT, "74d92dfeb87ba7c714f89d98870ae5eb62dff26d"
    )
    plain = pc.wecom_decrypt(A_KEY, A_IN_ENCRYPT, A_CORP).decode()
    assert "<FromUserName><![CDATA[messense]]></FromUserName>" in plain
    assert "<Content><![CDATA[test]]></Content>" in plain
    assert "<MsgId>4363689963896700987</MsgId>" in plain


def test_wecom_a_outbound_encrypt_and_signature():
    encrypt = pc.wecom_encrypt(A_KEY, A_OUT_PLAIN.encode(), A_CORP, random16=b"1234567890123456")
    assert encrypt == A_OUT_ENCRYPT
    assert pc.wecom_signature(A_TOKEN, "1411525903", "461056294", encrypt) == "407518b7649e86ef23978113f92d27afa9296533"
    envelope = pc.wecom_envelope(
        A_TOKEN, A_KEY, A_CORP, A_OUT_PLAIN.encode(), "1411525903", "461056294", random16=b"1234567890123456"
    )
    assert "<MsgSignature><![CDATA[407518b7649e86ef23978113f92d27afa9296533]]></MsgSignature>" in envelope


def test_wecom_a_wrong_corp_id_is_a_receiver_mismatch():
    with pytest.raises(pc.ReceiverMismatch):
        pc.wecom_decrypt(A_KEY, A_ECHO, "wx0000000000000000")


# --- WeCom set B (Tencent Sample.py) ---------------------------------------------------------------------------

B_TOKEN, B_CORP = "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo", "ww1436e0e65a779aee"
B_KEY = "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt"
B_ECHO = "fsi1xnbH4yQh0+PJxcOdhhK6TDXkjMyhEPA7xB2TGz6b+g7xyAbEkRxN/3cNXW9qdqjnoVzEtpbhnFyq6SVHyA=="
B_IN_ENCRYPT = (
    "Kl7kjoSf6DMD1zh7rtrHjFaDapSCkaOnwu3bqLc5tAybhhMl9pFeK8NslNPVdMwmBQTNoW4mY7AIjeLvEl3NyeTkAgGzBhzTtRLNshw2AEew+kk"
    "YcD+Fq72Kt00fT0WnN87hGrW8SqGc+NcT3mu87Ha3dz1pSDi6GaUA6A0sqfde0VJPQbZ9U+3JWcoD4Z5jaU0y9GSh010wsHF8KZD24YhmZH4ch4"
    "Ka7ilEbjbfvhKkNL65HHL0J6EYJIZUC2pFrdkJ7MhmEbU2qARR4iQHE7wy24qy0cRX3Mfp6iELcDNfSsPGjUQVDGxQDCWjayJOpcwocugux082f"
    "49HKYg84EpHSGXAyh+/oxwaWbvL6aSDPOYuPDGOCI8jmnKiypE+"
)
B_IN_PLAIN = (
    "<xml><ToUserName>ww1436e0e65a779aee</ToUserName><FromUserName>ChenJiaShun</FromUserName>"
    "<CreateTime>1476422779</CreateTime><MsgType>text</MsgType><Content>你好</Content><MsgId>1456453720</MsgId>"
    "<AgentID>1000002</AgentID></xml>"
)


def test_wecom_b_url_check():
    assert pc.wecom_check_signature(
        B_TOKEN, "1476416373", "47744683", B_ECHO, "012bc692d0a58dd4b10f8dfe5c4ac00ae211ebeb"
    )
    assert pc.wecom_decrypt(B_KEY, B_ECHO, B_CORP) == b"1288432023552776189"


def test_wecom_b_inbound():
    assert pc.wecom_check_signature(
        B_TOKEN, "1476422779", "1597212914", B_IN_ENCRYPT, "0c3914025cb4b4d68103f6bfc8db550f79dcf48e"
    )
    assert pc.wecom_decrypt(B_KEY, B_IN_ENCRYPT, B_CORP).decode() == B_IN_PLAIN


# --- WeCom set C (request examples in Sample.py's comments) ---------------------------------------------------

C_TOKEN, C_KEY, C_CORP = "QDG6eK", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "wx5823bf96d3bd56c7"
C_QUERY = (
    "msg_signature=5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3&timestamp=1409659589&nonce=263014780"
    "&echostr=P9nAzCzyDtyTWESHep1vC5X9xho%2FqYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp%2B4RPcs8TgAE7OaBO%2BFZXvnaqQ%3D%3D"
)
C_IN_ENCRYPT = (
    "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs"
    "3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5g"
    "sijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQ"
    "Uax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyP"
    "IGHBZZIs2pDBS8R07+qN+E7Q=="
)


def test_wecom_c_url_check_from_the_encoded_request_line():
    q = dict(urllib.parse.parse_qsl(C_QUERY))
    assert pc.wecom_check_signature(C_TOKEN, q["timestamp"], q["nonce"], q["echostr"], q["msg_signature"])
    assert pc.wecom_decrypt(C_KEY, q["echostr"], C_CORP) == b"1616140317555161061"


def test_wecom_c_inbound():
    assert pc.wecom_check_signature(
        C_TOKEN, "1409659813", "1372623149", C_IN_ENCRYPT, "477715d11cdb4164915debcba66cb864d751f3e6"
    )
    plain = pc.wecom_decrypt(C_KEY, C_IN_ENCRYPT, C_CORP).decode()
    assert "<FromUserName><![CDATA[mycreate]]></FromUserName>" in plain
    assert "<Content><![CDATA[hello]]></Content>" in plain
    assert "<AgentID>218</AgentID>" in plain


@pytest.mark.parametrize(
    "bad",
    ["not base64 !!", base64.b64encode(b"x" * 15).decode(), base64.b64encode(b"x" * 32).decode(), ""],
)
def test_wecom_undecryptable_raises_crypto_error(bad):
    with pytest.raises(pc.CryptoError):
        pc.wecom_decrypt(A_KEY, bad, A_CORP)


def test_wecom_roundtrip_and_wechatpy_agrees():
    """A second implementation (wechatpy 1.8.18) decrypts what we encrypt, and we decrypt what it encrypts."""
    enterprise = pytest.importorskip("wechatpy.enterprise.crypto")
    crypto = enterprise.WeChatCrypto(B_TOKEN, B_KEY, B_CORP)
    message = "<xml><Content><![CDATA[开始巡检]]></Content></xml>"
    envelope = crypto.encrypt_message(message, "42", "1700000000")
    root = fromstring(envelope)
    encrypt = root.findtext("Encrypt")
    assert pc.wecom_check_signature(B_TOKEN, "1700000000", "42", encrypt, root.findtext("MsgSignature"))
    assert pc.wecom_decrypt(B_KEY, encrypt, B_CORP).decode() == message

    ours = pc.wecom_envelope(B_TOKEN, B_KEY, B_CORP, message.encode(), "1700000001", "43")
    sig = fromstring(ours).findtext("MsgSignature")
    assert crypto.decrypt_message(ours, sig, "1700000001", "43") == message


# --- Feishu / Lark ---------------------------------------------------------------------------------------------

FEISHU_DERIVED = (
    "AAAAAAAAAAAAAAAAAAAAADsL2ng1cMcdDANB46GFjWs7IlX0vZx7OtxL9YjsrKOItV426DEF7DjRVFIFNecaqyKXDfHlSnd7Fv4dHtMXK9I="
)
FEISHU_CHALLENGE = '{"challenge":"ch-123","token":"vtok","type":"url_verification"}'


def test_feishu_published_vector():
    assert pc.feishu_decrypt("test key", "P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk=") == "hello world"


def test_feishu_derived_vector_and_signature():
    assert pc.feishu_encrypt("test key", FEISHU_CHALLENGE, iv=b"\0" * 16) == FEISHU_DERIVED
    assert pc.feishu_decrypt("test key", FEISHU_DERIVED) == FEISHU_CHALLENGE
    body = json.dumps({"encrypt": FEISHU_DERIVED}, separators=(",", ":")).encode()
    sig = "f4ab6af3b6c36d28415f80a3ee13efe7d8b454d55345ac611522297f2ead5834"
    assert pc.feishu_signature("1700000000", "nonce-1", "test key", body) == sig
    assert pc.feishu_check_signature("1700000000", "nonce-1", "test key", body, sig)
    assert not pc.feishu_check_signature("1700000000", "nonce-2", "test key", body, sig)
    assert not pc.feishu_check_signature("1700000000", "nonce-1", "test key", body + b" ", sig)


@pytest.mark.parametrize(
    "bad",
    [
        "%%%",
        base64.b64encode(b"\0" * 16).decode(),
        base64.b64encode(b"\0" * 40).decode(),
        pc.feishu_encrypt("other key", "hello world"),
    ],
)
def test_feishu_undecryptable_raises_crypto_error(bad):
    with pytest.raises(pc.CryptoError):
        pc.feishu_decrypt("test key", bad)


def test_feishu_lark_oapi_agrees():
    """lark-oapi's own decryptor and signature check accept what we produce."""
    decryptor = pytest.importorskip("lark_oapi.core.utils.decryptor")
    text = '{"schema":"2.0","header":{"event_id":"e1"},"event":{"text":"开始巡检"}}'
    assert decryptor.AESCipher("k3y").decrypt_str(pc.feishu_encrypt("k3y", text)) == text
    # and a random-IV ciphertext from pycryptodome (lark's dependency) decrypts with ours
    aes = pytest.importorskip("Crypto.Cipher.AES")
    from Crypto.Util.Padding import pad

    iv = os.urandom(16)
    ct = aes.new(hashlib.sha256(b"k3y").digest(), aes.MODE_CBC, iv).encrypt(pad(text.encode(), 16))
    assert pc.feishu_decrypt("k3y", base64.b64encode(iv + ct).decode()) == text
