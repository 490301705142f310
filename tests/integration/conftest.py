"""Fixtures of the end-to-end tests: the app built from Settings on real Redis, the local S3 and FakeOpenAI
(``build``, ``stack``), and orders on the local PostgreSQL in a schema of their own (``pg_orders``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from bot.adapters.sql.orders import SqlWorkOrders
from handlers.web.app import create_app
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.s3_server import LocalS3
from tests.support.e2e import Stack, base_settings
from tests.support.engine import wipe_prefix


@pytest.fixture(scope="module")
def s3() -> Iterator[LocalS3]:
    """One local S3 for the module (it takes a while to start); each test writes under its own prefix."""
    with LocalS3() as server:
        yield server


@pytest.fixture
def build(
    tmp_path: Path, fake_openai: FakeOpenAI, s3: LocalS3, redis_client: redis.Redis
) -> Iterator[Callable[..., Stack]]:
    """Build the app from Settings (changes as keyword arguments; ``orders=`` replaces the repository)."""
    stacks: list[Stack] = []

    def make(orders: SqlWorkOrders | None = None, **changes: Any) -> Stack:
        settings = base_settings(tmp_path, fake_openai, s3).with_(**changes)
        app = create_app(settings, **({"orders": orders} if orders is not None else {}))
        stack = Stack(app, settings, fake_openai, s3, redis_client)
        stacks.append(stack)
        return stack

    yield make
    for stack in stacks:
        stack.runtime.stop()
        stack.orders.dispose()
        stack.runtime.store.redis.close()
        wipe_prefix(redis_client, stack.settings.redis_prefix)


@pytest.fixture
def stack(build: Callable[..., Stack]) -> Stack:
    return build()


@pytest.fixture
def pg_orders() -> Iterator[SqlWorkOrders]:
    """Orders on the local PostgreSQL in a schema of their own (as test_orders.py makes them)."""
    import psycopg
    from sqlalchemy.engine import make_url

    url = "postgresql://postgres@127.0.0.1:5432/test"
    schema = f"wo_e2e_{uuid.uuid4().hex[:12]}"
    libpq = make_url(url).render_as_string(hide_password=False)
    try:
        admin = psycopg.connect(libpq, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        pytest.fail(f"PostgreSQL is not reachable at {url}: {exc}", pytrace=False)
    try:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        repo = SqlWorkOrders(url, engine_options={"connect_args": {"options": f"-csearch_path={schema}"}})
        try:
            yield repo
        finally:
            repo.dispose()
    finally:
        admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.close()
