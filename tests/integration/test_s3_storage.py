"""S3Store with real boto3 against a local moto S3 endpoint."""

from __future__ import annotations

import os
import re
import socket
import time
from collections.abc import Iterator

import pytest

from bot.adapters.storage import S3Store
from bot.ports import ServiceError
from tests.fakes.s3_server import LocalS3, fake_aws_env, loopback_opener

pytestmark = pytest.mark.integration

JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8


@pytest.fixture
def s3() -> Iterator[LocalS3]:
    with LocalS3() as local:
        yield local


@pytest.fixture
def store(s3: LocalS3) -> S3Store:
    return S3Store(s3.bucket, "wobot/", s3.endpoint_url, "us-east-1")


def test_put_get_round_trip_records_the_content_type(s3: LocalS3, store: S3Store) -> None:
    key = store.put(JPEG, "image/jpeg")

    assert store.get(key) == JPEG
    assert s3.objects() == [key]
    head = s3.head(key)
    assert head["ContentType"] == "image/jpeg"
    assert head["ContentLength"] == len(JPEG)


def test_prefix_is_applied_to_unguessable_dated_keys(s3: LocalS3, store: S3Store) -> None:
    keys = [store.put(JPEG, "image/png") for _ in range(3)]

    assert len(set(keys)) == 3
    for key in keys:
        assert re.fullmatch(r"wobot/[0-9]{4}/[0-9]{2}/[0-9]{2}/[0-9a-f]{32}\.png", key)
    assert s3.objects() == sorted(keys)


def test_prefix_without_trailing_slash_is_normalized(s3: LocalS3) -> None:
    store = S3Store(s3.bucket, "site-a", s3.endpoint_url, "us-east-1")

    key = store.put(JPEG, "image/jpeg")

    assert key.startswith("site-a/")
    assert store.get(key) == JPEG


def test_keys_written_under_another_prefix_stay_readable(s3: LocalS3) -> None:
    old = S3Store(s3.bucket, "old/", s3.endpoint_url, "us-east-1")
    key = old.put(JPEG, "image/jpeg")

    assert S3Store(s3.bucket, "new/", s3.endpoint_url, "us-east-1").get(key) == JPEG


def test_missing_key_is_a_key_error(store: S3Store) -> None:
    with pytest.raises(KeyError):
        store.get("wobot/2026/11/21/" + "0" * 32 + ".jpg")


@pytest.mark.parametrize("key", ["../x.jpg", "wobot/../2026/11/21/" + "0" * 32 + ".jpg", "/abs", "anything"])
def test_malformed_keys_are_key_errors_without_a_request(store: S3Store, key: str) -> None:
    with pytest.raises(KeyError):
        store.get(key)
    with pytest.raises(KeyError):
        store.url(key)
    with pytest.raises(KeyError):
        store.delete(key)


def test_delete_removes_the_object_and_a_second_delete_is_harmless(s3: LocalS3, store: S3Store) -> None:
    kept, gone = store.put(JPEG, "image/jpeg"), store.put(JPEG, "image/jpeg")
    store.delete(gone)
    assert s3.objects() == [kept]
    store.delete(gone)
    with pytest.raises(KeyError):
        store.get(gone)


def test_presigned_url_fetches_the_object(store: S3Store) -> None:
    key = store.put(JPEG, "image/jpeg")

    url = store.url(key, expires_seconds=60)

    assert url is not None
    assert url.startswith("http://127.0.0.1:")
    assert "X-Amz-Signature=" in url
    with loopback_opener().open(url, timeout=5) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "image/jpeg"
        assert response.read() == JPEG


def test_missing_bucket_is_a_service_error(s3: LocalS3) -> None:
    store = S3Store("no-such-bucket-here", "wobot/", s3.endpoint_url, "us-east-1")

    with pytest.raises(ServiceError, match="NoSuchBucket"):
        store.put(JPEG, "image/jpeg")


def test_local_s3_restores_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "outer")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    monkeypatch.setenv("AWS_PROFILE", "someone")

    with LocalS3() as s3:
        assert os.environ["AWS_ACCESS_KEY_ID"] == "testing"
        assert "AWS_PROFILE" not in os.environ
        assert s3.objects() == []

    assert os.environ["AWS_ACCESS_KEY_ID"] == "outer"
    assert "AWS_SECRET_ACCESS_KEY" not in os.environ
    assert os.environ["AWS_PROFILE"] == "someone"


def test_unreachable_endpoint_is_a_quick_service_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    with fake_aws_env():
        store = S3Store("photos", "wobot/", f"http://127.0.0.1:{closed_port}", "us-east-1")
        started = time.monotonic()

        with pytest.raises(ServiceError) as put_error:
            store.put(JPEG, "image/jpeg")
        with pytest.raises(ServiceError) as get_error:
            store.get("wobot/2026/11/21/" + "0" * 32 + ".jpg")

    assert time.monotonic() - started < 10
    for caught in (put_error, get_error):
        message = str(caught.value)
        assert "testing" not in message  # no credentials
        assert "127.0.0.1" not in message  # no endpoint or URL either: one short sentence
        assert message.startswith("object storage ")
