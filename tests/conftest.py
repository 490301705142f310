"""Shared fixtures: settings, stores (fakeredis and real Redis), the engine, local fake servers, photos.

Real-Redis fixtures fail — never skip — when Redis does not answer: the test command starts one.
A guard refuses any connection to a non-loopback address, so no test reaches the network.
"""

from __future__ import annotations

import ipaddress
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import fakeredis
import pytest
import redis

from bot.adapters.redis.sessions import RedisSessions
from bot.adapters.redis.store import SessionStore
from bot.adapters.sql.orders import SqlWorkOrders
from bot.adapters.storage import LocalFolderStore
from bot.config import Settings
from bot.dialogue.engine import Conversation, Services
from tests.support.engine import REDIS_URL, store_for, wipe_prefix

# -- no network ---------------------------------------------------------------------------------------------
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _loopback_only(address: Any) -> None:
    if not isinstance(address, tuple):
        return  # unix sockets
    host = address[0]
    if host in ("localhost", ""):
        return
    try:
        if ipaddress.ip_address(host.split("%")[0]).is_loopback:
            return
    except ValueError:
        pass
    raise ConnectionRefusedError(f"tests may only connect to loopback, not {host!r}")


def _guarded_connect(self: socket.socket, address: Any) -> Any:
    _loopback_only(address)
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> Any:
    _loopback_only(address)
    return _real_connect_ex(self, address)


socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]


# -- settings and ports -------------------------------------------------------------------------------------
@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        redis_prefix=f"t{uuid.uuid4().hex[:10]}",
        storage_dir=str(tmp_path / "images"),
        database_url=f"sqlite:///{tmp_path / 'orders.db'}",
        lock_timeout_seconds=5,
        # A test's photos come milliseconds apart; each stands for a photo sent later unless a test
        # of bursts sets this (tests/unit/test_photo_bursts.py).
        photo_burst_seconds=0,
    )


@pytest.fixture
def fake_store(settings: Settings) -> SessionStore:
    return store_for(fakeredis.FakeRedis(), settings)


@pytest.fixture(scope="session")
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=10)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        pytest.fail(f"real Redis is required at {REDIS_URL} ({exc}); run the tests through ./scripts/test")
    yield client
    client.close()


@pytest.fixture
def real_store(redis_client: redis.Redis, settings: Settings) -> Iterator[SessionStore]:
    store = store_for(redis_client, settings)
    yield store
    wipe_prefix(redis_client, settings.redis_prefix)


@pytest.fixture
def orders(settings: Settings) -> Iterator[SqlWorkOrders]:
    repo = SqlWorkOrders(settings.database_url)
    yield repo
    repo.dispose()


@pytest.fixture
def storage(settings: Settings) -> LocalFolderStore:
    return LocalFolderStore(settings.storage_dir)


@pytest.fixture
def make_engine(
    settings: Settings, fake_store: SessionStore, storage: LocalFolderStore, orders: SqlWorkOrders
) -> Callable[..., Conversation]:
    """Build an engine; defaults: fakeredis store, local folder storage, SQLite orders, no VLM."""

    def build(**overrides: Any) -> Conversation:
        s = overrides.pop("settings", settings)
        parts: dict[str, Any] = {"settings": s, "storage": storage, "orders": orders, "vlm": None}
        parts["sessions"] = RedisSessions(overrides.pop("store", fake_store))
        parts.update(overrides)
        return Conversation(Services(**parts))

    return build


# -- local fake servers ---------------------------------------------------------------------------------------
@pytest.fixture
def fake_openai() -> Iterator[Any]:
    from tests.fakes.openai_server import FakeOpenAI

    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def local_s3() -> Iterator[Any]:
    from tests.fakes.s3_server import LocalS3

    with LocalS3() as s3:
        yield s3
