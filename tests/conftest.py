"""Shared fixtures: settings, stores (fakeredis and real Redis), the engine, local fake servers, photos.

Real-Redis fixtures fail — never skip — when Redis does not answer: the test command starts one.
A guard refuses any connection to a non-loopback address, so no test reaches the network.
"""

from __future__ import annotations

import io
import ipaddress
import os
import random
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import fakeredis
import pytest
import redis

from bot.config import Settings
from bot.conversation import Conversation, Services
from bot.messages import Incoming, Location
from bot.orders import SqlWorkOrders
from bot.storage import LocalFolderStore
from bot.store import SessionStore

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

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
    )


def store_for(client: redis.Redis, settings: Settings) -> SessionStore:
    return SessionStore(client, settings)


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


def wipe_prefix(client: redis.Redis, prefix: str) -> None:
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    for start in range(0, len(keys), 500):
        client.delete(*keys[start : start + 500])


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
        parts: dict[str, Any] = {"settings": s, "store": fake_store, "storage": storage, "orders": orders, "vlm": None}
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


# -- messages and photos --------------------------------------------------------------------------------------
def photo(seed: int = 1, size: tuple[int, int] = (320, 240), fmt: str = "JPEG", quality: int = 90) -> bytes:
    """A synthetic scene, different for every seed, as image bytes."""
    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    img = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(img)
    for _ in range(12):
        x0, y0 = rng.randrange(size[0]), rng.randrange(size[1])
        x1, y1 = x0 + rng.randrange(20, 160), y0 + rng.randrange(20, 120)
        draw.rectangle((x0, y0, x1, y1), fill=tuple(rng.randrange(256) for _ in range(3)))
    out = io.BytesIO()
    img.save(out, fmt, **({"quality": quality} if fmt == "JPEG" else {}))
    return out.getvalue()


class Chat:
    """Drive the engine like one user would: ``chat.text("确认")`` returns the TurnResult."""

    def __init__(self, engine: Conversation, user: str = "u1", platform: str = "test", tenant: str = "t1") -> None:
        self.engine, self.user, self.platform, self.tenant = engine, user, platform, tenant

    def _send(self, **fields: Any) -> Any:
        return self.engine.handle(Incoming(platform=self.platform, tenant=self.tenant, user=self.user, **fields))

    def text(self, text: str, event_id: str | None = None) -> Any:
        return self._send(kind="text", text=text, event_id=event_id)

    def image(self, data: bytes, event_id: str | None = None, problem: str | None = None) -> Any:
        return self._send(kind="image", image=data, event_id=event_id, image_problem=problem)

    def location(self, label: str = "", lat: float | None = None, lng: float | None = None) -> Any:
        return self._send(kind="location", location=Location(label, lat, lng))

    def other(self) -> Any:
        return self._send(kind="other")

    @property
    def key(self) -> str:
        return f"{self.platform}:{self.tenant}:{self.user}"
