"""The ops API with 100 000 sessions on real Redis: stats and the first page answer well under a second."""

from __future__ import annotations

import random
import time
from collections import defaultdict

import pytest
from flask import Flask

from bot.adapters.redis.session_index import shard_of
from bot.adapters.redis.store import SessionStore
from bot.adapters.sql.orders import SqlWorkOrders
from bot.adapters.storage import LocalFolderStore
from bot.config import Settings
from bot.dialogue.machine import STATES
from bot.session import Session
from tests.support.admin import AUTH, admin_app

pytestmark = pytest.mark.integration

N = 100_000
PLATFORMS = ("wecom", "feishu", "slack", "generic")


def bulk_load(store: SessionStore, n: int) -> dict[str, int]:
    """``n`` sessions and their index entries, written through pipelines in chunks; returns counts by state."""
    rng = random.Random(7)
    now = time.time()
    by_state = dict.fromkeys(STATES, 0)
    chunk = 5000
    for start in range(0, n, chunk):
        pipe = store.redis.pipeline(transaction=False)
        entries: dict[str, dict[str, float]] = defaultdict(dict)  # index key -> members
        for i in range(start, min(start + chunk, n)):
            platform = PLATFORMS[i % len(PLATFORMS)]
            state = STATES[rng.randrange(len(STATES))]
            key = f"{platform}:tenant{i % 7}:user{i:06d}"
            score = now - rng.uniform(0, 500)  # all active within the 600 s TTL
            session = Session(key=key, state=state, updated_at=score, created_at=score)
            pipe.set(store.session_redis_key(key), session.to_json(), ex=600)
            shard = shard_of(key)
            for index in (
                store.index.key(shard),
                store.index.key(shard, state),
                store.index.key(shard, None, platform),
            ):
                entries[index][key] = score
            by_state[state] += 1
        for index, members in entries.items():
            pipe.zadd(index, members)
        pipe.execute()
    return by_state


@pytest.fixture
def big_app(
    settings: Settings, real_store: SessionStore, storage: LocalFolderStore, orders: SqlWorkOrders
) -> tuple[Flask, dict[str, int]]:
    by_state = bulk_load(real_store, N)
    return admin_app(settings, real_store, storage, orders), by_state


def timed(client: object, url: str) -> tuple[float, dict]:
    started = time.perf_counter()
    resp = client.get(url, headers=AUTH)  # type: ignore[attr-defined]
    took = time.perf_counter() - started
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return took, resp.json


def test_stats_with_100k_sessions_answers_in_under_a_second(big_app: tuple[Flask, dict[str, int]]) -> None:
    app, by_state = big_app
    client = app.test_client()
    took, body = timed(client, "/admin/api/stats")
    assert took < 1.0, f"/stats took {took:.3f}s"
    assert body["sessions"]["active"] == N
    assert body["sessions"]["by_state"] == by_state
    assert body["sessions"]["by_platform"] == {"console": 0, **{p: N // len(PLATFORMS) for p in PLATFORMS}}
    assert body["redis"]["version"] and body["redis"]["used_memory"] > 0


def test_first_pages_and_search_with_100k_sessions_are_fast(big_app: tuple[Flask, dict[str, int]]) -> None:
    app, _ = big_app
    client = app.test_client()
    took, body = timed(client, "/admin/api/sessions?limit=50")
    assert took < 1.0 and len(body["items"]) == 50 and body["next_cursor"]
    took, second = timed(client, f"/admin/api/sessions?limit=50&cursor={body['next_cursor']}")
    assert took < 1.0 and not {s["key"] for s in body["items"]} & {s["key"] for s in second["items"]}
    took, filtered = timed(client, "/admin/api/sessions?state=waiting_close_photo&platform=slack&limit=20")
    assert took < 1.0 and {(s["state"], s["platform"]) for s in filtered["items"]} == {("waiting_close_photo", "slack")}
    took, found = timed(client, "/admin/api/sessions?q=user04242")
    assert took < 2.0, f"search took {took:.3f}s"
    assert sorted(s["user"] for s in found["items"]) == [f"user04242{d}" for d in range(10)]
