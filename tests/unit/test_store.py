"""SessionStore on fakeredis: sessions with TTL, the mid-flow marker, dedupe, the per-user FIFO lock, the ops index."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import fakeredis
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from bot.adapters.redis.session_index import shard_of
from bot.adapters.redis.store import LockTimeout, SessionStore
from bot.config import Settings
from bot.ports import StoreUnavailable
from bot.session import SCHEMA_VERSION, Session
from tests.support.engine import store_for

SKEY = "test:t1:u1"


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def dead_store(settings: Settings) -> SessionStore:
    """A store whose Redis is not there (no retries, so the test is quick)."""
    client = redis.Redis(port=closed_port(), socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))
    return store_for(client, settings)


def mid_flow_session(key: str = SKEY) -> Session:
    s = Session(key=key, state="waiting_location")
    s.pending.update(image_key="2026/01/01/" + "a" * 32 + ".jpg", alarm_type="漏水")
    s.add_turn("user", "", kind="image", image_key=s.pending["image_key"])
    s.add_turn("bot", "问题在哪里？")
    return s


# -- sessions -------------------------------------------------------------------------------------------------
def test_save_load_round_trip_with_ttl(fake_store: SessionStore, settings: Settings) -> None:
    session = mid_flow_session()
    session.turns = 3
    fake_store.save(session)
    loaded = fake_store.load(SKEY)
    assert loaded is not None
    assert (loaded.key, loaded.state, loaded.pending, loaded.history, loaded.turns) == (
        SKEY,
        "waiting_location",
        session.pending,
        session.history,
        3,
    )
    ttl = fake_store.ttl(SKEY)
    assert ttl is not None and settings.session_ttl_seconds - 5 <= ttl <= settings.session_ttl_seconds
    raw = fake_store.redis.get(fake_store.session_redis_key(SKEY))
    assert b'"v":%d' % SCHEMA_VERSION in raw
    assert fake_store.session_redis_key(SKEY).startswith(settings.redis_prefix + ":")


def test_load_unknown_is_none(fake_store: SessionStore) -> None:
    assert fake_store.load("test:t1:nobody") is None
    assert fake_store.ttl("test:t1:nobody") is None


def test_ttl_refreshed_on_save(fake_store: SessionStore, settings: Settings) -> None:
    session = mid_flow_session()
    fake_store.save(session)
    assert fake_store.set_ttl(SKEY, 3)
    assert fake_store.ttl(SKEY) <= 3  # type: ignore[operator]
    fake_store.save(session)
    assert fake_store.ttl(SKEY) > settings.session_ttl_seconds - 5  # type: ignore[operator]


def test_save_with_explicit_ttl(fake_store: SessionStore) -> None:
    fake_store.save(mid_flow_session(), ttl_seconds=42)
    assert 40 <= fake_store.ttl(SKEY) <= 42  # type: ignore[operator]


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b"[]",
        b'"a string"',
        b"\xff\xfe\x00",
        b'{"v": 999, "key": "test:t1:u1"}',
        b'{"v": 1}',
        b'{"v": 1, "key": "k", "turns": "x"}',
        b'{"v": 1, "key": "k", "pending": "x"}',
        b'{"v": 1, "key": "k", "state": "no_such_state"}',
    ],
)
def test_unreadable_session_is_treated_as_none(fake_store: SessionStore, raw: bytes) -> None:
    fake_store.redis.set(fake_store.session_redis_key(SKEY), raw)
    assert fake_store.load(SKEY) is None


def test_expired_flow_marker(fake_store: SessionStore) -> None:
    fake_store.save(mid_flow_session())
    fake_store.redis.delete(fake_store.session_redis_key(SKEY))  # the TTL ran out
    assert fake_store.expired_flow(SKEY) == ("waiting_location", fake_store.ttl_seconds)  # the state and its wait
    assert fake_store.expired_flow(SKEY) is None  # told once


def test_no_flow_marker_for_idle_sessions(fake_store: SessionStore) -> None:
    session = mid_flow_session()
    fake_store.save(session)
    session.state = "idle"
    session.clear_pending()
    fake_store.save(session)
    fake_store.redis.delete(fake_store.session_redis_key(SKEY))
    assert fake_store.expired_flow(SKEY) is None


def test_flow_marker_outlives_the_session(fake_store: SessionStore, settings: Settings) -> None:
    fake_store.save(mid_flow_session())
    flow_keys = list(fake_store.redis.scan_iter(match=f"{settings.redis_prefix}:flow:*"))
    assert len(flow_keys) == 1
    assert fake_store.redis.ttl(flow_keys[0]) > settings.session_ttl_seconds


def test_delete(fake_store: SessionStore) -> None:
    fake_store.save(mid_flow_session())
    assert fake_store.delete(SKEY) is True
    assert fake_store.load(SKEY) is None
    assert fake_store.expired_flow(SKEY) is None  # deleted by ops, not timed out
    assert fake_store.redis.zscore(fake_store.index.key(shard_of(SKEY)), SKEY) is None
    assert fake_store.delete(SKEY) is False


# -- ops index ------------------------------------------------------------------------------------------------
def test_index_follows_the_state(fake_store: SessionStore) -> None:
    r = fake_store.redis
    session = mid_flow_session()
    fake_store.save(session)
    assert r.zscore(fake_store.index.key(shard_of(SKEY), state="waiting_location"), SKEY) is not None
    assert r.zscore(fake_store.index.key(shard_of(SKEY), platform="test"), SKEY) is not None
    assert r.zscore(fake_store.index.key(shard_of(SKEY)), SKEY) is not None
    session.state = "waiting_confirm"
    fake_store.save(session)
    assert r.zscore(fake_store.index.key(shard_of(SKEY), state="waiting_location"), SKEY) is None
    assert r.zscore(fake_store.index.key(shard_of(SKEY), state="waiting_confirm"), SKEY) is not None
    session.state = "idle"
    fake_store.save(session)
    members = {
        s: r.zrange(fake_store.index.key(shard_of(SKEY), state=s), 0, -1)
        for s in ("idle", "waiting_location", "waiting_confirm", "waiting_close_photo")
    }
    assert members == {
        "idle": [SKEY.encode()],
        "waiting_location": [],
        "waiting_confirm": [],
        "waiting_close_photo": [],
    }


def test_index_scores_are_last_activity_and_a_walk_merges_the_shards(fake_store: SessionStore) -> None:
    users = [f"test:t1:u{n}" for n in range(40)]
    for user in users:
        fake_store.save(Session(key=user))
        time.sleep(0.002)
    assert len({shard_of(user) for user in users}) > 8  # spread over the shards
    walked = [member for member, _ in fake_store.index.walk(fake_store.index.keys(), None, None)]
    assert walked == users[::-1]
    middle = next(e for e in fake_store.index.walk(fake_store.index.keys(), None, None) if e[0] == users[20])
    after_middle = [member for member, _ in fake_store.index.walk(fake_store.index.keys(), middle, None)]
    assert after_middle == users[19::-1]


def test_turn_counter(fake_store: SessionStore) -> None:
    for _ in range(3):
        fake_store.save(Session(key=SKEY))
    assert fake_store.turns_since(3600) == 3


# -- dedupe ---------------------------------------------------------------------------------------------------
def test_claim_once(fake_store: SessionStore) -> None:
    assert fake_store.mark("wecom", "msg-1") is True
    assert fake_store.mark("wecom", "msg-1") is False
    assert fake_store.mark("slack", "msg-1") is True
    assert fake_store.mark("wecom", "msg-2") is True


def test_claim_ttl(fake_store: SessionStore, settings: Settings) -> None:
    fake_store.mark("wecom", "msg-1")
    fake_store.mark("wecom", "msg-2", ttl_seconds=30)
    ttls = {k: fake_store.redis.ttl(k) for k in fake_store.redis.scan_iter(match=f"{settings.redis_prefix}:seen:*")}
    assert sorted(ttls.values()) == [30, settings.dedupe_ttl_seconds]


def test_save_remembers_the_result_and_open_turn_finds_it(fake_store: SessionStore, settings: Settings) -> None:
    assert fake_store.open_turn(SKEY, "evt-1") == (None, None)
    answer = {"replies": ["工单已创建：WO-1"], "state": "idle", "session": SKEY, "order_id": "WO-1"}
    fake_store.save(Session(key=SKEY), result=("evt-1", answer))
    seen, session = fake_store.open_turn(SKEY, "evt-1")
    assert seen == answer
    assert session is not None and session.key == SKEY
    assert fake_store.open_turn(SKEY, "evt-2")[0] is None
    assert fake_store.open_turn("test:t1:u2", "evt-1")[0] is None  # per user
    assert fake_store.open_turn(SKEY, None)[0] is None
    keys = list(fake_store.redis.scan_iter(match=f"{settings.redis_prefix}:r:*"))
    assert len(keys) == 1
    assert settings.dedupe_ttl_seconds - 5 <= fake_store.redis.ttl(keys[0]) <= settings.dedupe_ttl_seconds


# -- FIFO lock ------------------------------------------------------------------------------------------------
@pytest.fixture
def run_threads() -> Iterator[Callable[[threading.Thread], None]]:
    started: list[threading.Thread] = []

    def start(t: threading.Thread) -> None:
        t.daemon = True
        t.start()
        started.append(t)

    yield start
    for t in started:
        t.join(10)
        assert not t.is_alive(), "a lock thread hung"


def hold_in_thread(store: SessionStore, skey: str, run: Callable[[threading.Thread], None]) -> threading.Event:
    """Take the user's lock in another thread and keep it until the returned event is set."""
    acquired, release = threading.Event(), threading.Event()

    def body() -> None:
        with store.lock(skey):
            acquired.set()
            release.wait(10)

    run(threading.Thread(target=body))
    assert acquired.wait(5)
    return release


def test_lock_is_fifo(fake_store: SessionStore, run_threads: Callable[[threading.Thread], None]) -> None:
    order: list[int] = []
    release = hold_in_thread(fake_store, SKEY, run_threads)

    def turn(i: int) -> None:
        with fake_store.lock(SKEY):
            order.append(i)
            time.sleep(0.002)

    threads = [threading.Thread(target=turn, args=(i,)) for i in range(10)]
    for t in threads:
        run_threads(t)
        time.sleep(0.03)  # each queues well before the next starts
    release.set()
    for t in threads:
        t.join(10)
    assert order == list(range(10))


def test_lock_excludes_concurrent_holders(
    fake_store: SessionStore, run_threads: Callable[[threading.Thread], None]
) -> None:
    inside, most, done = [0], [0], []
    guard = threading.Lock()

    def turn(i: int) -> None:
        with fake_store.lock(SKEY):
            with guard:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            time.sleep(0.003)
            with guard:
                inside[0] -= 1
            done.append(i)

    threads = [threading.Thread(target=turn, args=(i,)) for i in range(12)]
    for t in threads:
        run_threads(t)
    for t in threads:
        t.join(10)
    assert most[0] == 1
    assert sorted(done) == list(range(12))


def test_locks_of_different_users_do_not_block(
    fake_store: SessionStore, run_threads: Callable[[threading.Thread], None]
) -> None:
    release = hold_in_thread(fake_store, SKEY, run_threads)
    started = time.monotonic()
    with fake_store.lock("test:t1:someone-else", wait_seconds=1):
        pass
    assert time.monotonic() - started < 0.5
    release.set()


def test_lock_is_released_when_the_body_raises(fake_store: SessionStore) -> None:
    with pytest.raises(ZeroDivisionError), fake_store.lock(SKEY):
        1 / 0  # noqa: B018
    with fake_store.lock(SKEY, wait_seconds=0.2):
        pass


def test_dead_ticket_is_skipped(
    fake_store: SessionStore, settings: Settings, run_threads: Callable[[threading.Thread], None]
) -> None:
    """A worker that died holding the lock: its heartbeat key is gone, so the next turn goes ahead."""
    release = hold_in_thread(fake_store, SKEY, run_threads)
    alive = list(fake_store.redis.scan_iter(match=f"{settings.redis_prefix}:lockalive:*"))
    assert len(alive) == 1
    fake_store.redis.delete(*alive)
    started = time.monotonic()
    with fake_store.lock(SKEY, wait_seconds=2):
        assert time.monotonic() - started < 1
    release.set()


def test_lock_timeout(fake_store: SessionStore, run_threads: Callable[[threading.Thread], None]) -> None:
    release = hold_in_thread(fake_store, SKEY, run_threads)
    started = time.monotonic()
    with pytest.raises(LockTimeout), fake_store.lock(SKEY, wait_seconds=0.2):
        pytest.fail("must not get the lock")
    assert 0.15 < time.monotonic() - started < 2
    assert issubclass(LockTimeout, StoreUnavailable)  # the edge answers 503
    release.set()
    # the timed-out ticket left the queue: the next turn is not stuck behind it
    with fake_store.lock(SKEY, wait_seconds=2):
        pass


def test_lock_heartbeat_keeps_a_long_turn_alive(settings: Settings) -> None:
    """A turn longer than the ticket's expiry still holds the lock (the heartbeat renews it)."""
    store = store_for(fakeredis.FakeRedis(), settings.with_(lock_timeout_seconds=0.3))
    with store.lock(SKEY):
        time.sleep(0.5)
        with pytest.raises(LockTimeout), store.lock(SKEY, wait_seconds=0.2):
            pass


# -- Redis down -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "operation",
    [
        pytest.param(lambda s: s.load(SKEY), id="load"),
        pytest.param(lambda s: s.save(Session(key=SKEY)), id="save"),
        pytest.param(lambda s: s.expired_flow(SKEY), id="expired_flow"),
        pytest.param(lambda s: s.mark("ns", "1"), id="mark"),
        pytest.param(lambda s: s.open_turn(SKEY, "e"), id="open_turn"),
        pytest.param(lambda s: s.save(Session(key=SKEY), result=("e", {})), id="save_with_result"),
        pytest.param(lambda s: s.ping(), id="ping"),
        pytest.param(lambda s: s.ttl(SKEY), id="ttl"),
        pytest.param(lambda s: s.delete(SKEY), id="delete"),
    ],
)
def test_store_unavailable(settings: Settings, operation: Callable[[SessionStore], object]) -> None:
    with pytest.raises(StoreUnavailable):
        operation(dead_store(settings))


def test_lock_on_a_dead_store_is_store_unavailable(settings: Settings) -> None:
    store = dead_store(settings)
    with pytest.raises(StoreUnavailable), store.lock(SKEY):
        pytest.fail("must not run")
