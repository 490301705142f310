"""Object storage adapters for the ``ObjectStore`` port: a local folder (default) and S3-compatible.

Keys are always made here, never from user input: ``YYYY/MM/DD/<32 hex>.<ext>``
(plus the S3 prefix). ``get`` accepts only keys of that shape, so a key taken
from a session, an order or an ops request can never name a path outside the store.
"""

from __future__ import annotations

import os
import re
import secrets
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from bot.ports import ObjectStore, ServiceError

if TYPE_CHECKING:
    from bot.config import Settings

_EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "image/gif": "gif",
    # voice notes kept with their report (bot.audio names their type)
    "audio/amr": "amr",
    "audio/ogg": "ogg",
    "audio/wav": "wav",
    "audio/mp4": "m4a",
    "audio/webm": "webm",
    "audio/mpeg": "mp3",
    "audio/flac": "flac",
}
_FALLBACK_EXT = "bin"
_CONTENT_TYPES = {ext: ct for ct, ext in _EXTENSIONS.items()} | {_FALLBACK_EXT: "application/octet-stream"}

_EXT_ALT = "|".join(sorted(_CONTENT_TYPES))
# [0-9] rather than \d: \d also matches non-ASCII digits.
_KEY_SHAPE = rf"[0-9]{{4}}/[0-9]{{2}}/[0-9]{{2}}/[0-9a-f]{{32}}\.(?:{_EXT_ALT})"
_LOCAL_KEY = re.compile(_KEY_SHAPE)
# An S3 key may carry any prefix of plain segments; none may be "." or "..".
_SEGMENTS = r"(?:[A-Za-z0-9_-][A-Za-z0-9._-]*/)*"
_PREFIX = re.compile(_SEGMENTS)
_S3_KEY = re.compile(_SEGMENTS + _KEY_SHAPE)


def content_type_of(key: str) -> str:
    """The content type an object was stored under, read from its key's extension (``new_key`` wrote it)."""
    return _CONTENT_TYPES.get(key.rsplit(".", 1)[-1].lower(), "application/octet-stream")


def new_key(content_type: str, now: datetime | None = None) -> str:
    """A fresh unguessable key; the date part keeps folders small and listings sorted."""
    day = (now or datetime.now(UTC)).strftime("%Y/%m/%d")
    ext = _EXTENSIONS.get(content_type.split(";")[0].strip().lower(), _FALLBACK_EXT)
    return f"{day}/{secrets.token_hex(16)}.{ext}"


class LocalFolderStore:
    """Photos as files under ``root``; the single-host default. No URLs (the VLM gets base64)."""

    def __init__(self, root: str) -> None:
        self._root = Path(root)

    def put(self, data: bytes, content_type: str) -> str:
        key = new_key(content_type)
        path = self._root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        # write to a temporary sibling, then rename: a reader never sees half a photo
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return key

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            raise KeyError(key) from None

    def url(self, key: str, expires_seconds: int = 600) -> str | None:
        self._path(key)
        return None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def _path(self, key: str) -> Path:
        if not isinstance(key, str) or not _LOCAL_KEY.fullmatch(key):
            raise KeyError(key)
        path = self._root / key
        # belt and braces: the regex already rules out "..", "/" prefixes and backslashes
        if not path.resolve().is_relative_to(self._root.resolve()):
            raise KeyError(key)
        return path


class S3Store:
    """Photos in an S3-compatible bucket (AWS S3, Tencent COS, MinIO).

    Credentials come the boto3 way (environment, shared config, instance profile);
    they are never passed through Settings or put into error messages.
    """

    def __init__(self, bucket: str, prefix: str = "", endpoint_url: str = "", region: str = "") -> None:
        prefix = prefix.strip("/")
        prefix = f"{prefix}/" if prefix else ""
        if prefix and not _PREFIX.fullmatch(prefix):
            raise ValueError(f"S3 prefix {prefix!r} must be plain path segments (letters, digits, . _ -)")
        self._bucket = bucket
        self._prefix = prefix
        config = Config(
            s3={"addressing_style": "auto"},
            signature_version="s3v4",
            connect_timeout=10,
            read_timeout=10,
            retries={"mode": "standard", "max_attempts": 3},
        )
        self._client: Any = boto3.client(
            "s3", endpoint_url=endpoint_url or None, region_name=region or None, config=config
        )

    def put(self, data: bytes, content_type: str) -> str:
        key = self._prefix + new_key(content_type)
        try:
            self._client.put_object(Bucket=self._bucket, Key=key, Body=data, ContentType=content_type)
        except (BotoCoreError, ClientError) as exc:
            raise _service_error("put", exc) from exc
        return key

    def get(self, key: str) -> bytes:
        self._check(key)
        try:
            response = self._client.get_object(Bucket=self._bucket, Key=key)
            data: bytes = response["Body"].read()
            return data
        except (BotoCoreError, ClientError) as exc:
            if _error_code(exc) in ("NoSuchKey", "404", "NotFound"):
                raise KeyError(key) from None
            raise _service_error("get", exc) from exc

    def url(self, key: str, expires_seconds: int = 600) -> str | None:
        self._check(key)
        try:
            url: str = self._client.generate_presigned_url(
                "get_object", Params={"Bucket": self._bucket, "Key": key}, ExpiresIn=expires_seconds
            )
            return url
        except (BotoCoreError, ClientError) as exc:
            raise _service_error("url", exc) from exc

    def delete(self, key: str) -> None:
        self._check(key)
        try:
            self._client.delete_object(Bucket=self._bucket, Key=key)  # S3 answers 204 for a missing key too
        except (BotoCoreError, ClientError) as exc:
            raise _service_error("delete", exc) from exc

    @staticmethod
    def _check(key: str) -> None:
        if not isinstance(key, str) or not _S3_KEY.fullmatch(key):
            raise KeyError(key)


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def _service_error(operation: str, exc: BotoCoreError | ClientError) -> ServiceError:
    """One short sentence: the operation and the error code or class name, never URLs or credentials."""
    detail = _error_code(exc) if isinstance(exc, ClientError) else type(exc).__name__
    return ServiceError(f"object storage {operation} failed: {detail or 'error'}")


def build_storage(settings: Settings) -> ObjectStore:
    """S3 when a bucket is configured, else the local folder."""
    if settings.s3_bucket:
        return S3Store(settings.s3_bucket, settings.s3_prefix, settings.s3_endpoint_url, settings.s3_region)
    return LocalFolderStore(settings.storage_dir)
