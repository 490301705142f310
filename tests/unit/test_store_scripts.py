"""The turn's Lua scripts (bot/adapters/redis/scripts.py) and what they promise, on fakeredis with Lua (lupa) and once
on
real Redis: the lock comes with the session, a waiting turn is woken rather than polling, a flushed script
cache costs nothing but a reload, a sent result shrinks to a marker, a full session stays small."""

from __future__ import annotations

import threading
import time
import uuid
import zlib
from collections.abc import Callable

import lz4.block
import pytest
from redis.crc import key_slot

from bot.adapters.redis.records import COMPRESS_ABOVE, LZ4_GOOD_ENOUGH, from_record, record_json, to_record
from bot.adapters.redis.store import ANSWERED, SessionStore
from bot.config import Settings
from bot.dialogue.engine import Conversation
from bot.messages import Incoming, TurnResult
from bot.replies import say
from bot.session import Session
from tests.support.engine import Chat, wipe_prefix

SKEY = "slack:T1:U1"


def test_the_lock_brings_the_session_and_the_stored_result(fake_store: SessionStore) -> None:
    session = Session(key=SKEY, state="waiting_location")
    with fake_store.lock(SKEY, event_id="ev1") as ticket:
        fake_store.save(session, result=("ev1", {"replies": ["where?"]}), ticket=ticket)
    with fake_store.lock(SKEY, event_id="ev1") as ticket:
        assert ticket.preloaded is not None  # nobody else waited: one round trip brought both
        seen, loaded = fake_store.open_turn(SKEY, "ev1", ticket)
    assert seen == {"replies": ["where?"]} and loaded is not None and loaded.state == "waiting_location"


def test_a_waiting_turn_is_woken_when_the_turn_before_it_ends(fake_store: SessionStore) -> None:
    took: list[float] = []
    first_holds = threading.Event()
    released_at: list[float] = []

    def second() -> None:
        first_holds.wait()
        with fake_store.lock(SKEY, event_id="ev2") as ticket:
            took.append(time.monotonic() - released_at[0])
            assert ticket.preloaded is None  # it waited, so it reads the session itself
            seen, session = fake_store.open_turn(SKEY, "ev2", ticket)
            assert seen is None and session is not None and session.turns == 1

    waiter = threading.Thread(target=second)
    waiter.start()
    with fake_store.lock(SKEY, event_id="ev1") as ticket:
        first_holds.set()
        time.sleep(0.3)  # the second turn is queued behind this one by now
        released_at.append(time.monotonic())
        fake_store.save(Session(key=SKEY, turns=1), ticket=ticket)
    waiter.join(5)
    # Woken by the release, not by its once-a-second look at the head's heartbeat.
    assert took and took[0] < 0.5, took


def test_a_flushed_script_cache_is_reloaded(real_store: SessionStore) -> None:
    real_store.redis.script_flush()
    with real_store.lock(SKEY, event_id="ev1") as ticket:
        real_store.save(Session(key=SKEY, turns=1), result=("ev1", {"replies": ["ok"]}), ticket=ticket)
    real_store.redis.script_flush()  # the next save's pipeline meets NOSCRIPT and runs again
    with real_store.lock(SKEY) as ticket:
        _, session = real_store.open_turn(SKEY, None, ticket)
        assert session is not None and session.turns == 1
        session.turns = 2
        real_store.save(session, ticket=ticket)
    loaded = real_store.load(SKEY)
    assert loaded is not None and loaded.turns == 2
    assert real_store.turns_since(3600) == 2
    assert real_store.redis.llen(real_store.user_key("lockq", SKEY)) == 0  # every ticket released


def test_a_sent_result_becomes_a_marker_of_a_few_bytes(real_store: SessionStore, settings: Settings) -> None:
    # the default prefix's length ("wobot"), a Slack team, user and event id of their real lengths
    real_store = SessionStore(real_store.redis, settings.with_(redis_prefix=f"w{uuid.uuid4().hex[:4]}"))
    skey, event = "slack:T0123ABCD:U0123ABCDE", "Ev0123456789AB"
    body = {"replies": ["收到照片。请告诉我位置：在哪一栋楼、哪一层？" * 3], "state": "waiting_location"}
    try:
        with real_store.lock(skey, event_id=event) as ticket:
            real_store.save(Session(key=skey), result=(event, body), ticket=ticket)
        key = real_store.result_key(skey, event)
        before = real_store.redis.memory_usage(key, samples=0)
        assert real_store.settle_result(skey, event) is True  # this call sends the replies
        assert real_store.settle_result(skey, event) is False  # a second re-run does not
        after = real_store.redis.memory_usage(key, samples=0)
        assert real_store.redis.get(key) == ANSWERED and 0 < real_store.redis.ttl(key) <= 3600
        # A marker costs what its key name costs (88 B, 360 B for the result) and is gone in an hour.
        assert after is not None and before is not None and after * 3 < before and after <= 100, (after, before)
        seen, _ = real_store.open_turn(skey, event)
        assert seen == {}  # a re-run of the turn finds it answered: nothing to send again
    finally:
        wipe_prefix(real_store.redis, real_store.prefix)


def test_a_full_history_is_stored_compressed_and_read_back(real_store: SessionStore) -> None:
    session = Session(key=SKEY)
    for n in range(12):
        session.add_turn("user", f"3号楼{n}层东侧走廊的消防栓旁边有积水，面积大约两平方米", kind="text")
        session.add_turn(
            "bot", f"收到。工单 WO-20261121-AB{n:03d} 的位置已记下：3号楼{n}层东侧走廊。请回复“确认”提交。"
        )
    real_store.save(session)
    raw = real_store.redis.get(real_store.session_redis_key(SKEY))
    assert isinstance(raw, bytes) and len(session.to_json().encode()) > 3000 > len(raw) > 0
    assert not raw.startswith(b"{") and Session.from_json(record_json(raw)).history == session.history
    assert (real_store.redis.memory_usage(real_store.session_redis_key(SKEY), samples=0) or 0) <= 3072
    loaded = real_store.load(SKEY)
    assert loaded is not None and loaded.history == session.history
    small = Session(key=SKEY)
    assert len(to_record(small)) < COMPRESS_ABOVE and to_record(small).startswith(b"{")  # small stays JSON


def test_a_record_compressed_with_zlibs_default_window_still_loads(real_store: SessionStore) -> None:
    """Sessions saved before LZ4 (``zlib.compress``: first byte ``x``) outlive a deploy by up to the TTL: the
    user who was mid-report keeps the report."""
    session = Session(key=SKEY, state="waiting_location", pending={"alarm_type": "漏水"})
    for n in range(12):
        session.add_turn("user", f"3号楼{n}层东侧走廊的消防栓旁边有积水", kind="text")
    old = zlib.compress(session.to_json().encode(), 1)
    assert old[:1] == b"x"
    real_store.redis.set(real_store.session_redis_key(SKEY), old)
    loaded = real_store.load(SKEY)
    assert loaded is not None and loaded.state == "waiting_location" and loaded.history == session.history


def test_repeated_text_is_kept_by_lz4_and_varied_text_by_zlib_whichever_is_smaller_when_large() -> None:
    """LZ4 is the fast codec; where it leaves a record large (varied Chinese text) zlib's smaller one is kept."""
    chatty = Session(key=SKEY)
    for _ in range(10):
        chatty.add_turn("user", "我下周二想请一天年假", kind="text")
        chatty.add_turn("bot", "报修请直接发送现场照片；结单请发修好后的现场照片（或“结单 WO-…”）。")
    record = to_record(chatty)
    assert record[:1] == b"L" and len(record) * 4 < len(chatty.to_json().encode())
    varied = Session(key=SKEY)
    words = "东西南北楼层走廊电梯消防栓积水漏电照明门禁监控空调管道配电箱屋顶地下车库停车场楼梯间水泵房"
    for n in range(10):
        varied.add_turn("user", "".join(words[(n * 7 + i * i) % len(words)] for i in range(45)), kind="text")
        varied.add_turn("bot", f"收到。位置：{words[n : n + 12]}。请回复“确认”提交，或“取消”。")
    record = to_record(varied)
    quick = b"L" + lz4.block.compress(varied.to_json().encode(), store_size=True)
    assert len(quick) > LZ4_GOOD_ENOUGH and record[:1] == b"H" and len(record) < len(quick)
    for stored in (chatty, varied):
        assert from_record(to_record(stored)).history == stored.history


@pytest.mark.parametrize(
    "damaged",
    [b"L\x00\x00", b"L" + (200 << 20).to_bytes(4, "little") + b"\x00" * 8, b"L\x10\x00\x00\x00garbage"],
    ids=["cut short", "claims 200 MB", "not a block"],
)
def test_a_damaged_lz4_record_is_refused_before_anything_large_is_allocated(damaged: bytes) -> None:
    with pytest.raises(ValueError):
        record_json(damaged)


def test_a_damaged_compressed_record_starts_the_user_over(real_store: SessionStore) -> None:
    real_store.redis.set(real_store.session_redis_key(SKEY), b"x\x9c not a zlib stream")
    assert real_store.load(SKEY) is None


def test_a_dedupe_claim_is_a_record_under_100_bytes_whatever_the_id(
    real_store: SessionStore, settings: Settings
) -> None:
    """A claim lives a day for every message: a Feishu message id (35 characters) is named by a digest in the
    key, so it costs what a Slack id does; a short id stays readable."""
    real_store = SessionStore(real_store.redis, settings.with_(redis_prefix="wobot"))  # the default's length
    ids = {
        "feishu": "om_5ce6d572455d361153b7cb51da133945",
        "slack": "D0123ABCD:1652227646.593159",
        "wecom": "7300000000000000123",
    }
    try:
        for namespace, ident in ids.items():
            assert real_store.mark(namespace, ident) is True
            assert real_store.mark(namespace, ident) is False  # the same id finds the same key
            key = real_store.mark_key(namespace, ident)
            assert (real_store.redis.memory_usage(key, samples=0) or 0) <= 100, (namespace, key)
        assert ids["wecom"] in real_store.mark_key("wecom", ids["wecom"])
        assert ids["feishu"] not in real_store.mark_key("feishu", ids["feishu"])
        assert real_store.mark_key("feishu", ids["feishu"] + "x") != real_store.mark_key("feishu", ids["feishu"])
    finally:
        for namespace, ident in ids.items():
            real_store.redis.delete(real_store.mark_key(namespace, ident))


@pytest.mark.parametrize(
    "skey",
    [
        "slack:T0123ABCD:U0123ABCDE",
        "wecom:ww1436e0e65a779aee:zhangsan",
        "feishu:2ca1d211f64f6438:ou_84aad35d084aa403a838cf73ee18467",
        "test:t1:用户",
    ],
)
def test_a_result_key_is_short_and_in_its_users_slot(fake_store: SessionStore, skey: str) -> None:
    """The result's key is in the slot of the user's other keys (the scripts touch them together on a Cluster),
    is as short whatever the ids are, and names one user's one event."""
    keys = {fake_store.result_key(skey, event) for event in ("7300000000000000123", "om_" + "5" * 32, "")}
    assert len(keys) == 3
    for key in keys:
        assert key_slot(key.encode()) == key_slot(fake_store.session_redis_key(skey).encode())
        assert len(key) <= len(fake_store.prefix) + 32  # "P:r:{abc}:" and a 22-letter digest
    assert fake_store.result_key(skey, "e1") != fake_store.result_key(skey + "x", "e1")
    assert fake_store.result_key(skey, "e1") == fake_store.result_key(skey, "e1")


def test_a_turn_sends_its_answer_before_it_gives_the_lock_up(
    make_engine: Callable[..., Conversation], fake_store: SessionStore
) -> None:
    """``handle(…, deliver=…)``: the replies go out while the user's lock is held; then one script shrinks the stored
    result to the marker and releases the lock."""
    engine = make_engine(store=fake_store)
    chat = Chat(engine)
    queue = fake_store.user_key("lockq", chat.key)
    during: list[tuple[str, int]] = []

    def deliver(result: TurnResult) -> None:
        during.append((result.replies[0].text, fake_store.redis.llen(queue)))

    incoming = Incoming(platform="test", tenant="t1", user="u1", kind="text", text="帮助", event_id="ev-help")
    result = engine.handle(incoming, deliver=deliver)
    assert during == [(say("zh", "help_idle"), 1)]  # sent with the turn's ticket still at the head of the queue
    assert result.delivered and result.saved
    assert not fake_store.redis.exists(queue)  # and released after
    assert fake_store.redis.get(fake_store.result_key(chat.key, "ev-help")) == ANSWERED

    def crash(result: TurnResult) -> None:
        raise RuntimeError("sender crashed")

    again = Incoming(platform="test", tenant="t1", user="u1", kind="text", text="帮助", event_id="ev-again")
    with pytest.raises(RuntimeError):
        engine.handle(again, deliver=crash)
    assert not fake_store.redis.exists(queue)  # a sender that crashed does not keep the user locked


@pytest.mark.parametrize("which", ["fake_store", "real_store"])
def test_an_ops_ttl_is_the_time_the_flow_mark_says(which: str, request: pytest.FixtureRequest) -> None:
    """``set_ttl`` retimes the session and its mid-flow mark in one script; a session in idle has no mark to keep."""
    store: SessionStore = request.getfixturevalue(which)
    store.save(Session(key=SKEY, state="waiting_location"))
    assert store.set_ttl(SKEY, 60)
    flow = store.user_key("flow", SKEY)
    assert store.redis.get(flow) == b"waiting_location 60"
    assert 60 < store.redis.ttl(flow) <= 60 + 86400 and store.ttl(SKEY) <= 60  # type: ignore[operator]
    assert key_slot(flow.encode()) == key_slot(store.session_redis_key(SKEY).encode())  # one slot on a Cluster
    store.redis.delete(store.session_redis_key(SKEY))  # what the TTL does
    assert store.expired_flow(SKEY) == ("waiting_location", 60)
    assert not store.set_ttl(SKEY, 60)  # no session: nothing is made
    store.save(Session(key=SKEY))
    assert store.set_ttl(SKEY, 90) and store.redis.get(flow) is None
