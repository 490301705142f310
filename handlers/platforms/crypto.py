"""Signatures and AES for the platforms' webhooks (WeCom, Feishu/Lark, Slack).

A small module of ours instead of wechatpy (unmaintained since 2022, parses XML with
xmltodict) or lark-oapi (a large SDK for a dozen lines): tested against the SDKs'
own published vectors and cross-checked by their code in the test suite. Slack's
v0 HMAC uses ``slack_sdk.signature.SignatureVerifier``, the maintained original.
Every comparison of a secret-derived value is constant time.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import os
import struct
from collections.abc import Mapping

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from slack_sdk.signature import SignatureVerifier


class CryptoError(ValueError):
    """A payload that does not decrypt: bad base64, length, padding or layout. Maps to 400."""


class ReceiverMismatch(CryptoError):
    """A WeCom payload decrypted, but was addressed to another corp/suite. Maps to 403."""


# --- WeCom -------------------------------------------------------------------------------------------------

_WECOM_BLOCK = 32  # WeCom pads PKCS#7 to 32 bytes, not the AES block size


def wecom_key(encoding_aes_key: str) -> bytes:
    """The 32-byte AES key behind the 43-character EncodingAESKey."""
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except (binascii.Error, ValueError):
        raise CryptoError("EncodingAESKey is not base64") from None
    if len(key) != 32:
        raise CryptoError("EncodingAESKey must decode to 32 bytes")
    return key


@functools.lru_cache(maxsize=8)
def _wecom_cipher(encoding_aes_key: str) -> Cipher[modes.CBC]:
    """Built once per key (its IV is the key's first 16 bytes): building it is a large part of an ack."""
    key = wecom_key(encoding_aes_key)
    return Cipher(algorithms.AES(key), modes.CBC(key[:16]))


@functools.lru_cache(maxsize=8)
def _feishu_aes(encrypt_key: str) -> algorithms.AES:
    return algorithms.AES(hashlib.sha256(encrypt_key.encode()).digest())


def wecom_signature(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    """SHA-1 over the lexicographically sorted, concatenated parts (not an HMAC)."""
    joined = "".join(sorted([token, timestamp, nonce, encrypt]))
    return hashlib.sha1(joined.encode()).hexdigest()  # noqa: S324 - the platform's scheme


def wecom_check_signature(token: str, timestamp: str, nonce: str, encrypt: str, signature: str) -> bool:
    expected = wecom_signature(token, timestamp, nonce, encrypt)
    return hmac.compare_digest(expected.encode(), signature.strip().lower().encode())


def wecom_encrypt(encoding_aes_key: str, message: bytes, receive_id: str, random16: bytes | None = None) -> str:
    """Encrypt a reply (or a test request) the way WeCom does: base64 of AES-256-CBC, IV = key[:16]."""
    key = wecom_key(encoding_aes_key)
    prefix = random16 if random16 is not None else os.urandom(16)
    if len(prefix) != 16:
        raise ValueError("random prefix must be 16 bytes")
    raw = prefix + struct.pack(">I", len(message)) + message + receive_id.encode()
    pad = _WECOM_BLOCK - len(raw) % _WECOM_BLOCK
    raw += bytes([pad]) * pad
    enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(enc.update(raw) + enc.finalize()).decode()


def wecom_decrypt(encoding_aes_key: str, encrypt: str, receive_id: str) -> bytes:
    """Decrypt an ``Encrypt`` value or ``echostr``; the embedded receive id must equal ``receive_id``."""
    cipher = _wecom_cipher(encoding_aes_key)
    try:
        data = base64.b64decode(encrypt, validate=True)
    except (binascii.Error, ValueError):
        raise CryptoError("not base64") from None
    if not data or len(data) % 16:
        raise CryptoError("ciphertext length is not a multiple of 16")
    dec = cipher.decryptor()
    raw = dec.update(data) + dec.finalize()
    pad = raw[-1]
    if not 1 <= pad <= _WECOM_BLOCK or pad > len(raw) or raw[-pad:] != bytes([pad]) * pad:
        raise CryptoError("bad padding")
    raw = raw[:-pad]
    if len(raw) < 20:
        raise CryptoError("plaintext too short")
    (length,) = struct.unpack(">I", raw[16:20])
    if 20 + length > len(raw):
        raise CryptoError("message length beyond plaintext")
    found = raw[20 + length :]
    if not hmac.compare_digest(found, receive_id.encode()):
        raise ReceiverMismatch("receive id does not match")
    return raw[20 : 20 + length]


def wecom_envelope(
    token: str,
    encoding_aes_key: str,
    receive_id: str,
    message: bytes,
    timestamp: str,
    nonce: str,
    random16: bytes | None = None,
) -> str:
    """The encrypted XML body WeCom sends (and expects for a passive reply)."""
    encrypt = wecom_encrypt(encoding_aes_key, message, receive_id, random16)
    signature = wecom_signature(token, timestamp, nonce, encrypt)
    return (
        f"<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt><MsgSignature><![CDATA[{signature}]]></MsgSignature>"
        f"<TimeStamp>{timestamp}</TimeStamp><Nonce><![CDATA[{nonce}]]></Nonce></xml>"
    )


# --- Feishu / Lark -----------------------------------------------------------------------------------------


def feishu_encrypt(encrypt_key: str, text: str, iv: bytes | None = None) -> str:
    """Encrypt an event body as Feishu does: base64(IV || AES-256-CBC(sha256(key)), PKCS#7/16)."""
    key = hashlib.sha256(encrypt_key.encode()).digest()
    iv = iv if iv is not None else os.urandom(16)
    data = text.encode()
    pad = 16 - len(data) % 16
    data += bytes([pad]) * pad
    enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return base64.b64encode(iv + enc.update(data) + enc.finalize()).decode()


def feishu_decrypt(encrypt_key: str, encrypt: str) -> str:
    """Decrypt the ``encrypt`` field of a Feishu body; padding checked in full."""
    try:
        raw = base64.b64decode(encrypt, validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise CryptoError("not base64") from None
    if len(raw) < 32 or len(raw) % 16:
        raise CryptoError("ciphertext length is not a multiple of 16")
    dec = Cipher(_feishu_aes(encrypt_key), modes.CBC(raw[:16])).decryptor()
    plain = dec.update(raw[16:]) + dec.finalize()
    pad = plain[-1]
    if not 1 <= pad <= 16 or plain[-pad:] != bytes([pad]) * pad:
        raise CryptoError("bad padding")
    try:
        return plain[:-pad].decode()
    except UnicodeDecodeError:
        raise CryptoError("plaintext is not UTF-8") from None


def feishu_signature(timestamp: str, nonce: str, encrypt_key: str, raw_body: bytes) -> str:
    """``X-Lark-Signature``: SHA-256 (not HMAC) over timestamp + nonce + key + the exact body bytes."""
    return hashlib.sha256((timestamp + nonce + encrypt_key).encode() + raw_body).hexdigest()


def feishu_check_signature(timestamp: str, nonce: str, encrypt_key: str, raw_body: bytes, signature: str) -> bool:
    expected = feishu_signature(timestamp, nonce, encrypt_key, raw_body)
    return hmac.compare_digest(expected.encode(), signature.strip().lower().encode())


# --- Slack -------------------------------------------------------------------------------------------------


def slack_check_signature(
    signing_secret: str, raw_body: bytes, headers: Mapping[str, str], verifier: SignatureVerifier | None = None
) -> bool:
    """v0 HMAC-SHA256 with the 5-minute window, by slack_sdk; malformed headers or body are just invalid."""
    verifier = verifier or SignatureVerifier(signing_secret)
    wanted = {k: v for k, v in headers.items() if k.lower() in ("x-slack-request-timestamp", "x-slack-signature")}
    try:
        return verifier.is_valid_request(raw_body, wanted)
    except (ValueError, UnicodeDecodeError):  # a non-numeric timestamp, a body that is not UTF-8
        return False
