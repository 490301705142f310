"""bot.ops without Flask: listing over the index, search, reset/delete/TTL, stats, orders, audit."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from bot.adapters.redis.session_index import shard_of
from bot.adapters.redis.store import SessionStore
from bot.dialogue.engine import Conversation
from bot.ops import Conflict, Invalid, NotFound, Ops, SessionView
from bot.paging import Page
from bot.replies import say
from bot.session import Session
from handlers.web.admin import views
from tests.support.admin import report_order, stuck_closing
from tests.support.engine import Chat, photo


def rows(page: Page[SessionView]) -> list[dict[str, Any]]:
    """Sessions as the admin API, page and CLI show them."""
    return [views.session_row(v) for v in page.items]


def detail(ops: Ops, key: str) -> dict[str, Any]:
    return views.session_detail(ops, ops.session(key))


@pytest.fixture
def engine(make_engine: Callable[..., Conversation]) -> Conversation:
    return make_engine()


@pytest.fixture
def ops(engine: Conversation, fake_store: SessionStore) -> Ops:
    s = engine.services
    return Ops(s.settings, fake_store, engine, s.orders, s.storage, platforms=("generic", "wecom", "test"))


def _seed(
    store: SessionStore,
    n: int,
    platform: str = "generic",
    state: str = "idle",
    start: float | None = None,
    same_time: bool = False,
) -> list[str]:
    """Write ``n`` sessions straight through the store (index included)."""
    keys = []
    for i in range(n):
        key = f"{platform}:{state}:user{i:04d}"
        session = Session(key=key, state=state)
        store.save(session)
        keys.append(key)
    if same_time or start is not None:
        score = start or time.time()
        for key in keys:
            shard = shard_of(key)
            for idx in (store.index.key(shard), store.index.key(shard, state), store.index.key(shard, None, platform)):
                store.redis.zadd(idx, {key: score})
    return keys


def _all_pages(ops: Ops, **filters: Any) -> tuple[list[str], int]:
    seen: list[str] = []
    cursor, pages = None, 0
    while True:
        page = ops.list_sessions(cursor=cursor, **filters)
        pages += 1
        seen += [s["key"] for s in rows(page)]
        if page.next_cursor is None:
            return seen, pages
        cursor = page.next_cursor
        assert pages < 1000


# -- listing -----------------------------------------------------------------------------------------------------
def test_list_is_newest_first_with_what_the_bot_waits_for(ops: Ops, engine: Conversation) -> None:
    alice, bob = Chat(engine, "alice", "generic"), Chat(engine, "bob", "generic")
    order_id = report_order(alice)
    stuck_closing(alice, order_id)
    bob.text("hello")
    items = rows(ops.list_sessions())
    assert [s["user"] for s in items] == ["bob", "alice"]
    assert items[1]["state"] == "waiting_close_photo"
    assert order_id in items[1]["waiting_for"]
    assert items[1]["pending"] == {"order_id": order_id}
    assert 0 < items[1]["seconds_left"] <= 600


def test_cursor_paging_visits_every_session_once(ops: Ops, fake_store: SessionStore) -> None:
    keys = _seed(fake_store, 57)
    seen, pages = _all_pages(ops, limit=10)
    assert sorted(seen) == sorted(keys)
    assert len(seen) == len(set(seen))
    assert pages == 6


def test_paging_is_stable_when_many_sessions_share_one_score(ops: Ops, fake_store: SessionStore) -> None:
    keys = _seed(fake_store, 25, same_time=True)
    seen, _ = _all_pages(ops, limit=7)
    assert sorted(seen) == sorted(keys) and len(seen) == 25


def test_paging_while_users_keep_talking_repeats_nobody(ops: Ops, fake_store: SessionStore) -> None:
    keys = _seed(fake_store, 30, start=time.time() - 100)
    first = ops.list_sessions(limit=10)
    # a user from the first page writes again: they move to the top, not onto a later page
    fake_store.save(fake_store.load(rows(first)[0]["key"]))
    rest, _ = _all_pages_from(ops, first.next_cursor, limit=10)
    everything = [s["key"] for s in rows(first)] + rest
    assert len(everything) == len(set(everything)) == len(keys)


def _all_pages_from(ops: Ops, cursor: str | None, **filters: Any) -> tuple[list[str], int]:
    seen: list[str] = []
    pages = 0
    while cursor:
        page = ops.list_sessions(cursor=cursor, **filters)
        seen += [s["key"] for s in rows(page)]
        cursor = page.next_cursor
        pages += 1
    return seen, pages


def test_filters_by_state_and_platform(ops: Ops, fake_store: SessionStore) -> None:
    _seed(fake_store, 3, platform="generic", state="waiting_location")
    _seed(fake_store, 2, platform="wecom", state="waiting_location")
    _seed(fake_store, 4, platform="wecom", state="idle")
    assert len(rows(ops.list_sessions(state="waiting_location"))) == 5
    assert len(rows(ops.list_sessions(platform="wecom"))) == 6
    both = rows(ops.list_sessions(state="waiting_location", platform="wecom"))
    assert {s["platform"] for s in both} == {"wecom"} and len(both) == 2
    with pytest.raises(Invalid):
        ops.list_sessions(state="sleeping")
    with pytest.raises(Invalid):
        ops.list_sessions(platform="we com")


def test_q_finds_part_of_the_user_id_case_insensitively(ops: Ops, engine: Conversation) -> None:
    for user in ("ZhangSan-0042", "lisi-7", "wangwu-0042x"):
        Chat(engine, user, "generic").text("hi")
    assert {s["user"] for s in rows(ops.list_sessions(q="0042"))} == {"ZhangSan-0042", "wangwu-0042x"}
    assert [s["user"] for s in rows(ops.list_sessions(q="zhangsan"))] == ["ZhangSan-0042"]
    assert rows(ops.list_sessions(q="generic")) == []  # the platform is not part of the user id
    assert [s["user"] for s in rows(ops.list_sessions(q="generic:t1:lisi"))] == ["lisi-7"]  # a pasted key
    assert rows(ops.list_sessions(q="*")) == []  # glob characters are literal
    with pytest.raises(Invalid):
        ops.list_sessions(q="x" * 129)


def test_q_pages_without_duplicates(ops: Ops, fake_store: SessionStore) -> None:
    keys = _seed(fake_store, 40)
    seen, _ = _all_pages(ops, q="USER001", limit=4)
    assert sorted(seen) == sorted(k for k in keys if "user001" in k) and len(seen) == 10


def test_expired_sessions_still_in_the_index_are_skipped(ops: Ops, fake_store: SessionStore) -> None:
    keys = _seed(fake_store, 12)
    for key in keys[::2]:
        fake_store.redis.delete(fake_store.session_redis_key(key))  # as if the TTL ran out
    seen, _ = _all_pages(ops, limit=4)
    assert sorted(seen) == sorted(keys[1::2])


def test_ancient_index_entries_are_pruned(ops: Ops, fake_store: SessionStore) -> None:
    _seed(fake_store, 5, start=time.time() - 10 * 86400)
    ops.list_sessions()
    for index in (*fake_store.index.keys(), *fake_store.index.keys(platform="generic")):
        assert fake_store.redis.zcard(index) == 0


def test_bad_cursor_and_limit_are_invalid(ops: Ops) -> None:
    for cursor in ("nonsense", "eyJ4IjoxfQ"):
        with pytest.raises(Invalid):
            ops.list_sessions(cursor=cursor)
    for limit in (0, 201, "ten"):
        with pytest.raises(Invalid):
            ops.list_sessions(limit=limit)


# -- one session ---------------------------------------------------------------------------------------------------
def test_session_detail_has_history_and_photo_links(engine: Conversation, fake_store: SessionStore) -> None:
    s = engine.services
    ops = Ops(s.settings, fake_store, engine, s.orders, s.storage, image_link=lambda key: f"/img/{key}")
    chat = Chat(engine, "alice", "generic")
    chat.image(photo(3))
    shown = detail(ops, chat.key)
    assert shown["state"] == "waiting_location"
    key = shown["pending"]["image_key"]
    assert shown["pending"]["image_url"] == f"/img/{key}"
    user_turn = shown["history"][0]
    assert user_turn["role"] == "user" and user_turn["image_key"] == key and user_turn["image_url"] == f"/img/{key}"
    assert shown["history"][1]["role"] == "bot"
    with pytest.raises(NotFound):
        ops.session("generic:t:nobody")


# -- reset ---------------------------------------------------------------------------------------------------------
def test_reset_goes_idle_keeps_history_and_the_next_message_starts_fresh(ops: Ops, engine: Conversation) -> None:
    chat = Chat(engine, "worker7", "generic")
    order_id = report_order(chat)
    stuck_closing(chat, order_id)
    history_before = detail(ops, chat.key)["history"]

    result = ops.reset(chat.key, who="alice")

    assert result == {"key": chat.key, "state": "idle", "previous_state": "waiting_close_photo", "notified": False}
    after = detail(ops, chat.key)
    assert after["state"] == "idle" and after["pending"] == {}
    assert after["history"] == history_before
    # the next message is handled as from an idle user (no "finish first", no timeout notice), told once why
    reply = chat.text("你好")
    assert reply.state == "idle"
    told = say("zh", "reset_notice", flow=say("zh", "flow_close"))
    assert [r.text for r in reply.replies] == [told, say("zh", "idle_text")]
    assert [r.text for r in chat.text("你好").replies] == [say("zh", "idle_text")]
    with pytest.raises(NotFound):
        ops.reset("generic:t:nobody", who="alice")


def test_reset_with_notify_uses_the_edge_hook(engine: Conversation, fake_store: SessionStore) -> None:
    sent: list[tuple[str, str]] = []
    s = engine.services

    def notify(skey: str, text: str) -> bool:
        sent.append((skey, text))
        return skey.startswith("wecom:")

    ops = Ops(s.settings, fake_store, engine, s.orders, s.storage, notify=notify)
    pushy, quiet = Chat(engine, "u1", "wecom"), Chat(engine, "u2", "generic")
    pushy.text("hi")
    quiet.text("hi")
    assert ops.reset(pushy.key, who="a", notify=True)["notified"] is True
    assert ops.reset(quiet.key, who="a", notify=True)["notified"] is False
    assert ops.reset(pushy.key, who="a")["notified"] is False  # not asked: not sent
    assert sent == [(pushy.key, say("zh", "reset_by_ops")), (quiet.key, say("zh", "reset_by_ops"))]


def test_a_failing_notice_does_not_fail_the_reset(engine: Conversation, fake_store: SessionStore) -> None:
    def broken(skey: str, text: str) -> bool:
        raise RuntimeError("platform API exploded")

    s = engine.services
    ops = Ops(s.settings, fake_store, engine, s.orders, s.storage, notify=broken)
    chat = Chat(engine, "u1", "wecom")
    chat.image(photo(1))
    assert ops.reset(chat.key, who="a", notify=True) == {
        "key": chat.key,
        "state": "idle",
        "previous_state": "waiting_location",
        "notified": False,
    }


# -- delete and TTL ------------------------------------------------------------------------------------------------
def test_delete_removes_the_session_and_its_index_entries(
    ops: Ops, engine: Conversation, fake_store: SessionStore
) -> None:
    chat = Chat(engine, "u1", "generic")
    chat.text("hi")
    assert ops.delete(chat.key, who="a") == {"key": chat.key, "deleted": True}
    with pytest.raises(NotFound):
        detail(ops, chat.key)
    assert fake_store.redis.zscore(fake_store.index.key(shard_of(chat.key)), chat.key) is None
    with pytest.raises(NotFound):
        ops.delete(chat.key, who="a")


@pytest.mark.parametrize("seconds", [59, 86401, 0, -5, "600", 600.0, True, None])
def test_ttl_outside_60_to_86400_is_invalid(ops: Ops, engine: Conversation, seconds: Any) -> None:
    chat = Chat(engine, "u1", "generic")
    chat.text("hi")
    with pytest.raises(Invalid):
        ops.set_ttl(chat.key, seconds, who="a")


def test_ttl_change(ops: Ops, engine: Conversation, fake_store: SessionStore) -> None:
    chat = Chat(engine, "u1", "generic")
    chat.text("hi")
    assert ops.set_ttl(chat.key, 86400, who="a") == {"key": chat.key, "seconds_left": 86400}
    assert fake_store.ttl(chat.key) > 86000
    assert ops.set_ttl(chat.key, 60, who="a")["seconds_left"] == 60
    with pytest.raises(NotFound):
        ops.set_ttl("generic:t:nobody", 600, who="a")


# -- stats ---------------------------------------------------------------------------------------------------------
def test_stats_count_active_sessions_orders_and_turns(ops: Ops, engine: Conversation, fake_store: SessionStore) -> None:
    chat = Chat(engine, "alice", "generic")
    order_id = report_order(chat)
    stuck_closing(chat, order_id)
    Chat(engine, "bob", "wecom").text("hi")
    Chat(engine, "carol", "test").text("hi")
    _seed(fake_store, 3, platform="generic", start=time.time() - 3600)  # idle for an hour: not active
    stats = ops.stats()
    sessions = stats["sessions"]
    assert sessions["active"] == 3
    assert sessions["by_state"] == {"idle": 2, "waiting_location": 0, "waiting_confirm": 0, "waiting_close_photo": 1}
    assert sessions["by_platform"] == {"generic": 1, "test": 1, "wecom": 1}
    assert stats["orders"] == {"open": 1, "closed": 0, "cancelled": 0}
    assert stats["turns_last_hour"] == 7 + 3  # every save counts, the seeded ones too
    assert stats["problems"] == []


# -- orders --------------------------------------------------------------------------------------------------------
def test_orders_list_show_and_cancel(ops: Ops, engine: Conversation) -> None:
    chat = Chat(engine, "alice", "generic")
    first, second = report_order(chat, 1), report_order(chat, 2)
    page = ops.list_orders(limit=1)
    assert [o.id for o in page.items] == [second] and page.next_cursor
    assert [o.id for o in ops.list_orders(cursor=page.next_cursor).items] == [first]
    shown = views.order_detail(ops, ops.order(first))
    assert shown["reporter"]["session_key"] == chat.key
    assert shown["report_photo"]["key"] and shown["close_photo"] is None
    assert any(h.get("image_key") == shown["report_photo"]["key"] for h in shown["history"])
    cancelled = ops.cancel_order(first, "duplicate report", who="bob")
    assert cancelled.status == "cancelled" and cancelled.cancel_reason == "duplicate report"
    with pytest.raises(Conflict):
        ops.cancel_order(first, "again", who="bob")
    with pytest.raises(NotFound):
        ops.cancel_order("WO-20200101-ABCDE", "x", who="bob")
    with pytest.raises(NotFound):
        ops.order("nonsense")
    with pytest.raises(Invalid):
        ops.cancel_order(second, "   ", who="bob")
    with pytest.raises(Invalid):
        ops.list_orders(status="lost")
    with pytest.raises(Invalid):
        ops.list_orders(cursor="garbage")


# -- audit ---------------------------------------------------------------------------------------------------------
def test_every_change_is_audited_with_before_and_after(ops: Ops, engine: Conversation) -> None:
    chat = Chat(engine, "alice", "generic")
    order_id = report_order(chat)
    stuck_closing(chat, order_id)
    ops.set_ttl(chat.key, 3600, who="bob")
    ops.reset(chat.key, who="bob")
    ops.cancel_order(order_id, "site closed", who="carol")
    ops.delete(chat.key, who="cli")
    entries = [views.audit_row(e) for e in ops.audit_log().items]
    assert [(e["action"], e["who"], e["target"]) for e in entries] == [
        ("session.delete", "cli", chat.key),
        ("order.cancel", "carol", order_id),
        ("session.reset", "bob", chat.key),
        ("session.ttl", "bob", chat.key),
    ]
    delete, cancel, reset, ttl = entries
    assert delete["before"]["state"] == "idle" and delete["after"] is None
    assert cancel["before"] == {"status": "open"}
    assert cancel["after"] == {"status": "cancelled", "reason": "site closed"}
    assert reset["before"] == {"state": "waiting_close_photo", "pending": {"order_id": order_id}}
    assert reset["after"] == {"state": "idle", "pending": {}, "notified": False}
    assert ttl["after"] == {"seconds_left": 3600} and 0 < ttl["before"]["seconds_left"] <= 600
    assert all(e["at"].endswith("Z") for e in entries)


def test_audit_pages_and_stays_bounded(engine: Conversation, fake_store: SessionStore) -> None:
    s = engine.services
    ops = Ops(s.settings, fake_store, engine, s.orders, s.storage, audit_max=20)
    for i in range(60):
        ops.audit("cli", "session.ttl", f"generic:t:u{i}", before=None, after={"seconds_left": 60 + i})
    assert fake_store.redis.xlen(ops.trail.key) <= 20 + 100  # approximate trimming, never unbounded
    seen, cursor = [], None
    while True:
        page = ops.audit_log(cursor=cursor, limit=7)
        seen += [e.target for e in page.items]
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert len(seen) == len(set(seen)) == fake_store.redis.xlen(ops.trail.key)
    assert seen[0] == "generic:t:u59"
    with pytest.raises(Invalid):
        ops.audit_log(cursor="yesterday")
