"""Turns of one user from several processes and threads, on real Redis: nothing lost, arrival order kept.

Design. Every turn is a photo sent while the session waits for a location, so each turn stores the
photo and asks the VLM (the local FakeOpenAI, answering after ``VLM_DELAY`` = 0.3 s) — a turn takes
well over 0.3 s. The 20 turns are sent at fixed times ``t0 + i * GAP`` (i = global index 0..19,
GAP = 150 ms), each from its own thread; process ``p`` sends the indices ``i % 4 == p``, so consecutive
turns come from different processes. Arrival order is therefore fixed in advance (a turn queues for
the user's lock within a few ms of its send time, far less than GAP), while turns really overlap: a
turn arrives every 150 ms but takes 300+ ms, so most turns wait in the lock queue behind others, and
the last ones wait more than a second. Each turn carries its index as the message text (a caption)
and its own picture, so the stored history, the order of the VLM's requests and the turns' finish
times can all be checked against the arrival order.

Nothing of ours is replaced: each process builds what a web process builds from its settings (a
SessionStore on real Redis with the shared prefix, the engine, local-folder photos, SQLite orders,
the OpenAI adapter).
"""

from __future__ import annotations

import base64
import json
import multiprocessing
import os
import signal
import threading
import time
import traceback
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from bot.adapters.redis.records import record_json
from bot.adapters.redis.sessions import RedisSessions
from bot.adapters.redis.store import build_store
from bot.adapters.sql.orders import build_orders
from bot.adapters.storage import build_storage
from bot.adapters.vlm import build_vlm
from bot.config import Settings
from bot.dialogue.engine import Conversation, Services
from bot.messages import Incoming
from bot.replies import say
from tests.fakes.openai_server import FakeOpenAI
from tests.support.engine import REDIS_URL, photo, wipe_prefix
from tests.support.workers import open_orders

pytestmark = pytest.mark.integration

TURNS = 20
PROCESSES = 4
GAP = 0.15  # seconds between two arrivals
VLM_DELAY = 0.3  # seconds the fake VLM takes per photo
USER = "field-worker"
SESSION = f"conc:t1:{USER}"
SPAWN = multiprocessing.get_context("spawn")


def caption(i: int) -> str:
    return f"turn {i:02d}"


def picture(i: int) -> bytes:
    return photo(100 + i, size=(160, 120))


# -- run in the test process and in spawned workers (top level, so 'spawn' can import them) ----------
def build_engine(settings: Settings) -> Conversation:
    """What each web or worker process builds at start-up: its own store client, engine and adapters."""
    store = build_store(settings)
    services = Services(
        settings, RedisSessions(store), build_storage(settings), build_orders(settings), build_vlm(settings)
    )
    return Conversation(services)


def close_engine(engine: Conversation) -> None:
    engine.services.orders.dispose()  # type: ignore[attr-defined]
    engine.services.sessions.store.redis.close()  # type: ignore[attr-defined]


def send_at(engine: Conversation, indices: list[int], start: float) -> list[dict[str, Any]]:
    """Send turn ``i`` at ``start + i * GAP`` from its own thread; one record per turn."""
    pictures = {i: picture(i) for i in indices}  # made before the clock starts
    records: list[dict[str, Any]] = []
    guard = threading.Lock()

    def one(i: int) -> None:
        time.sleep(max(0.0, start + i * GAP - time.time()))
        sent = time.time()
        record: dict[str, Any] = {"i": i, "sent": sent, "pid": os.getpid()}
        try:
            result = engine.handle(
                Incoming(
                    platform="conc",
                    tenant="t1",
                    user=USER,
                    kind="image",
                    image=pictures[i],
                    text=caption(i),
                    event_id=f"ev-{i}",
                )
            )
            record.update(state=result.state, replies=[r.text for r in result.replies])
        except BaseException:  # reported to the test, which fails on it
            record["error"] = traceback.format_exc()
        record["done"] = time.time()
        with guard:
            records.append(record)

    threads = [threading.Thread(target=one, args=(i,), name=f"turn-{i}") for i in indices]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return records


def process_worker(settings: Settings, indices: list[int], ready: Any, go: Any, t0: Any, results: Any) -> None:
    try:
        engine = build_engine(settings)
        engine.services.sessions.store.ping()  # type: ignore[attr-defined]
    except BaseException:
        ready.put(("error", traceback.format_exc()))
        return
    ready.put(("ready", os.getpid()))
    if not go.wait(60):
        results.put([{"i": -1, "error": "never told to go"}])
        return
    try:
        results.put(send_at(engine, indices, t0.value))
    finally:
        close_engine(engine)


def hang_in_a_turn(settings: Settings, ready: Any) -> None:
    """Start a photo turn whose VLM call never returns in time; the test kills this process meanwhile."""
    try:
        engine = build_engine(settings)
    except BaseException:
        ready.put(("error", traceback.format_exc()))
        return
    ready.put(("ready", os.getpid()))
    engine.handle(Incoming(platform="conc", tenant="t1", user=USER, kind="image", image=picture(99)))


# -- fixtures and checks ---------------------------------------------------------------------------------------
@pytest.fixture
def settings(tmp_path: Path, fake_openai: FakeOpenAI, redis_client: redis.Redis) -> Iterator[Settings]:
    fake_openai.delay(VLM_DELAY)
    s = Settings(
        redis_url=REDIS_URL,
        redis_prefix=f"conc{uuid.uuid4().hex[:10]}",
        history_max_turns=50,
        lock_timeout_seconds=5,
        storage_dir=str(tmp_path / "images"),
        database_url=f"sqlite:///{tmp_path / 'orders.db'}",
        vlm_base_url=fake_openai.base_url,
        nlu_base_url="off",
        vlm_api_key="sk-conc",
        vlm_timeout_seconds=10,
        photo_burst_seconds=0,  # each photo replaces the last, so the order of turns shows in the session
    )
    yield s
    wipe_prefix(redis_client, s.redis_prefix)


def stored_session(client: redis.Redis, settings: Settings) -> dict:
    raw = client.get(f"{settings.redis_prefix}:session:{{{SESSION}}}")
    assert raw is not None, "the session is missing"
    return json.loads(record_json(raw))


def check_all_turns_in_arrival_order(
    records: list[dict[str, Any]], client: redis.Redis, settings: Settings, fake: FakeOpenAI
) -> None:
    errors = [r["error"] for r in records if "error" in r]
    assert errors == [], errors[0] if errors else ""
    # Arrival order is the order the turns were handed to the engine. It is the order of ``i`` unless a thread
    # woke more than GAP late on a loaded machine (seen once in CI): then that turn really arrived later.
    records = sorted(records, key=lambda r: r["sent"])
    arrival = [r["i"] for r in records]
    assert sorted(arrival) == list(range(TURNS))
    assert all(r["state"] == "waiting_location" for r in records)
    # every turn after the first replaced the pending photo and was analysed
    assert all(say("zh", "photo_replaced") in r["replies"] for r in records[1:])

    # nothing lost: every user message and every reply is in the stored history, in arrival order
    session = stored_session(client, settings)
    assert session["turns"] == TURNS
    users = [h for h in session["history"] if h["role"] == "user"]
    bots = [h for h in session["history"] if h["role"] == "bot"]
    assert [h["text"] for h in users] == [caption(i) for i in arrival]
    assert len(bots) == sum(len(r["replies"]) for r in records) >= TURNS
    # each photo replaced the one before, which was deleted: only the last keeps its link
    assert ["image_key" in h for h in users] == [False] * (TURNS - 1) + [True]
    assert session["state"] == "waiting_location"
    assert session["pending"]["image_key"] == users[-1]["image_key"]

    # one turn at a time, in arrival order: the VLM saw the photos in that order, turns finished in it
    requests = fake.requests
    assert len(requests) == TURNS
    sent = [base64.b64decode(r.image_urls[0].split(",", 1)[1]) for r in requests]
    assert sent == [picture(i) for i in arrival]
    finished = [r["done"] for r in records]
    assert finished == sorted(finished)

    # and they really overlapped: most turns arrived while the previous one was still running
    overlapping = sum(records[i]["sent"] < records[i - 1]["done"] for i in range(1, TURNS))
    assert overlapping >= TURNS // 2, overlapping
    assert records[-1]["done"] - records[-1]["sent"] > 5 * VLM_DELAY  # the last one queued behind others

    # the lock queue is empty again
    assert client.llen(f"{settings.redis_prefix}:lockq:{{{SESSION}}}") == 0


# -- tests -------------------------------------------------------------------------------------------------------
def test_twenty_turns_from_four_processes_lose_nothing_and_keep_order(
    settings: Settings, redis_client: redis.Redis, fake_openai: FakeOpenAI
) -> None:
    ready, results, go, t0 = SPAWN.Queue(), SPAWN.Queue(), SPAWN.Event(), SPAWN.Value("d", 0.0)
    workers = [
        SPAWN.Process(
            target=process_worker,
            args=(settings, list(range(p, TURNS, PROCESSES)), ready, go, t0, results),
            name=f"worker-{p}",
        )
        for p in range(PROCESSES)
    ]
    for w in workers:
        w.start()
    finished = False
    try:
        for _ in workers:
            status, detail = ready.get(timeout=60)
            assert status == "ready", detail
        t0.value = time.time() + 0.3
        go.set()
        records: list[dict[str, Any]] = []
        for _ in workers:
            records.extend(results.get(timeout=60))
        finished = True
    finally:
        for w in workers:
            w.join(timeout=30 if finished else 0.1)
            if w.is_alive():
                w.kill()
                w.join(timeout=5)
    assert [w.exitcode for w in workers] == [0] * PROCESSES
    assert len({r["pid"] for r in records}) == PROCESSES

    check_all_turns_in_arrival_order(records, redis_client, settings, fake_openai)


def test_twenty_turns_from_twenty_threads_lose_nothing_and_keep_order(
    settings: Settings, redis_client: redis.Redis, fake_openai: FakeOpenAI
) -> None:
    engine = build_engine(settings)
    try:
        records = send_at(engine, list(range(TURNS)), time.time() + 0.2)
    finally:
        close_engine(engine)
    check_all_turns_in_arrival_order(records, redis_client, settings, fake_openai)


def test_a_worker_killed_inside_a_turn_does_not_wedge_the_user(
    settings: Settings, redis_client: redis.Redis, fake_openai: FakeOpenAI
) -> None:
    settings = settings.with_(lock_timeout_seconds=1, vlm_timeout_seconds=60)
    fake_openai.delay(0)
    fake_openai.delay(30, times=1)  # the doomed worker's VLM call hangs
    queue_key = f"{settings.redis_prefix}:lockq:{{{SESSION}}}"
    ready = SPAWN.Queue()
    doomed = SPAWN.Process(target=hang_in_a_turn, args=(settings, ready), name="doomed")
    doomed.start()
    try:
        status, detail = ready.get(timeout=60)
        assert status == "ready", detail
        deadline = time.monotonic() + 30
        while not fake_openai.requests and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(fake_openai.requests) == 1, "the doomed turn never reached the VLM"
        # it is inside its turn, holding the user's lock
        (ticket,) = redis_client.lrange(queue_key, 0, -1)
        assert redis_client.exists(f"{settings.redis_prefix}:lockalive:{{{SESSION}}}:{ticket.decode()}")
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.join(timeout=10)
    finally:
        if doomed.is_alive():
            doomed.kill()
    assert doomed.exitcode == -signal.SIGKILL

    engine = build_engine(settings)
    try:
        started = time.monotonic()
        result = engine.handle(Incoming(platform="conc", tenant="t1", user=USER, kind="text", text="状态"))
        waited = time.monotonic() - started
    finally:
        close_engine(engine)

    # the dead worker's ticket expired (heartbeat 1 s) and the turn went ahead; its half turn saved nothing
    assert waited < 2.0, waited
    assert [r.text for r in result.replies] == [say("zh", "status_idle", alarm="")]
    assert result.state == "idle"
    assert redis_client.llen(queue_key) == 0
    session = stored_session(redis_client, settings)
    assert session["turns"] == 1 and session["state"] == "idle"


def test_workers_starting_together_on_a_fresh_sqlite_database_all_start(tmp_path: Path) -> None:
    """Several web workers (gunicorn -w N) open a new SQLite file at once: each may race to switch it to WAL
    (which fails at once with "database is locked" instead of waiting) and to CREATE TABLE."""
    workers, attempts = 16, 12
    urls = [f"sqlite:///{tmp_path / f'fresh-{attempt}.db'}" for attempt in range(attempts)]
    barrier, results = SPAWN.Barrier(workers), SPAWN.Queue()
    procs = [SPAWN.Process(target=open_orders, args=(urls, barrier, results)) for _ in range(workers)]
    for p in procs:
        p.start()
    try:
        outcomes = [results.get(timeout=60) for _ in range(workers * attempts)]
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
    failures = [o for o in outcomes if o != "ok"]
    assert failures == [], f"{len(failures)} of {len(outcomes)} failed; the first: {failures[0]}"
