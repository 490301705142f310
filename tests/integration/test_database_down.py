"""A restart during a database outage: the app boots, chat goes on, and orders resume when it is back.

PostgreSQL is reached through a loopback port that first refuses connections (the outage) and then
forwards to the real server (``tests/support/tcp_forward.py``); the tables are made on the first
successful connection, in a schema of this test's own.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from bot.config import Settings
from bot.replies import say
from tests.support.engine import REDIS_URL, photo, wipe_prefix
from tests.support.live import Live, live_app, order_id_in
from tests.support.tcp_forward import Forwarder, free_port

pytestmark = pytest.mark.integration

POSTGRES = ("127.0.0.1", 5432)
TOKEN = "generic-token"


@pytest.fixture
def schema() -> Iterator[str]:
    name = f"wo_down_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        pytest.fail(f"PostgreSQL is not reachable on 127.0.0.1:5432: {exc}", pytrace=False)
    admin.execute(f'CREATE SCHEMA "{name}"')
    try:
        yield name
    finally:
        admin.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        admin.close()


def send(live: Live, **message: Any) -> dict[str, Any]:
    body = json.dumps({"user_id": "alice", "tenant": "acme", **message}).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
    answer = live.call("POST", "/webhook/generic", body, headers)
    assert answer.status == 200, answer.text
    reply: dict[str, Any] = json.loads(answer.body)
    return reply


def test_boots_with_the_database_down_and_creates_tables_when_it_is_back(
    settings: Settings, schema: str, redis_client: Any
) -> None:
    port = free_port()
    url = f"postgresql://postgres@127.0.0.1:{port}/test?options=-csearch_path%3D{schema}"
    real = settings.with_(redis_url=REDIS_URL, generic_webhook_token=TOKEN, database_url=url)
    try:
        with live_app(real, vlm=None) as live:  # building the app must not touch the database
            ready = live.call("GET", "/readyz")
            assert ready.status == 503
            checks = json.loads(ready.body)["checks"]
            assert checks["redis"] == "ok" and "database unavailable" in checks["database"]

            # conversations run; the confirm keeps the report and says why
            assert send(live, image_base64=base64.b64encode(photo(1)).decode())["state"] == "waiting_location"
            send(live, text="2")
            assert send(live, text="东门岗亭")["state"] == "waiting_confirm"
            refused = send(live, text="确认")
            assert refused["replies"] == [say("zh", "orders_down")] and refused["state"] == "waiting_confirm"

            forwarder = Forwarder(port, POSTGRES)  # the database is back
            try:
                assert live.call("GET", "/readyz").status == 200
                done = send(live, text="确认")
                assert done["state"] == "idle"
                order_id = order_id_in(done["replies"])
            finally:
                forwarder.close()
    finally:
        wipe_prefix(redis_client, settings.redis_prefix)
    query = sql.SQL("SELECT reporter_tenant FROM {}.work_orders WHERE id = %s").format(sql.Identifier(schema))
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True) as conn:
        row = conn.execute(query, (order_id,)).fetchone()
    assert row == ("acme",)
