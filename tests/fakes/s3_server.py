"""A local S3 endpoint (moto's server mode, in-process) for integration tests with real boto3.

    with LocalS3() as s3:
        store = S3Store(s3.bucket, "wobot/", s3.endpoint_url, "us-east-1")
        ...
        assert s3.objects() == [...]

While open, boto3 sees fake credentials from the environment (and never the
instance-metadata service); the previous environment is restored on exit.
"""

from __future__ import annotations

import os
import secrets
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    # no IMDS lookups (169.254.169.254 is not loopback), no real profiles or config files
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
}
# Variables that would point boto3 somewhere else or add real credentials.
_UNSET = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_REGION",
)


@contextmanager
def fake_aws_env() -> Iterator[None]:
    """Fake boto3 credentials in os.environ for the duration; restores the exact previous values."""
    names = (*FAKE_AWS_ENV, *_UNSET)
    saved = {name: os.environ.get(name) for name in names}
    try:
        for name in _UNSET:
            os.environ.pop(name, None)
        os.environ.update(FAKE_AWS_ENV)
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class LocalS3:
    """moto's S3 on 127.0.0.1 (a free port) with one fresh bucket; a context manager."""

    def __init__(self, bucket: str | None = None) -> None:
        self.bucket = bucket or f"test-{secrets.token_hex(6)}"
        self.endpoint_url = ""
        self._server: ThreadedMotoServer | None = None
        self._env: Any = None

    def __enter__(self) -> LocalS3:
        self._env = fake_aws_env()
        self._env.__enter__()
        try:
            self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            self._server.start()
            host, port = self._server.get_host_and_port()
            self.endpoint_url = f"http://{host}:{port}"
            self.client().create_bucket(Bucket=self.bucket)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if self._server is not None:
                if self.endpoint_url:
                    # moto keeps state in process-wide backends; leave nothing for the next test
                    _post_loopback(f"{self.endpoint_url}/moto-api/reset")
                self._server.stop()
                self._server = None
        finally:
            if self._env is not None:
                self._env.__exit__(None, None, None)
                self._env = None

    def client(self) -> Any:
        """A plain boto3 client for this endpoint, for assertions and setup."""
        return boto3.client("s3", endpoint_url=self.endpoint_url, region_name="us-east-1")

    def objects(self) -> list[str]:
        """Every key in the bucket, sorted."""
        keys: list[str] = []
        paginator = self.client().get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket):
            keys.extend(item["Key"] for item in page.get("Contents", []))
        return sorted(keys)

    def head(self, key: str) -> dict[str, Any]:
        """The stored object's metadata (ContentType, ContentLength…)."""
        return self.client().head_object(Bucket=self.bucket, Key=key)


def loopback_opener() -> urllib.request.OpenerDirector:
    """A urllib opener that ignores proxy settings, for fetching from local fake servers."""
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _post_loopback(url: str) -> None:
    request = urllib.request.Request(url, data=b"", method="POST")
    with loopback_opener().open(request, timeout=5) as response:
        response.read()
