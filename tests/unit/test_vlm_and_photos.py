"""Photos while reporting, on fakes: a new photo replaces the pending one, the VLM failing keeps the photo (retry
or pick the type), and photos that are not usable are refused with a clear sentence.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bot.adapters.redis.store import SessionStore
from bot.adapters.sql.orders import SqlWorkOrders
from bot.adapters.storage import LocalFolderStore
from bot.config import Settings
from bot.dialogue.engine import Conversation
from bot.ports import Analysis, VlmError
from bot.replies import say
from tests.support.conversation import (
    CHOICES_ZH,
    ScriptedVlm,
    pic,
    session_of,
    stored_files,
    texts,
)
from tests.support.engine import Chat, photo


def test_photo_in_waiting_location_replaces_and_reanalyzes(
    make_engine: Callable[..., Conversation], fake_store: SessionStore, storage: LocalFolderStore
) -> None:
    vlm = ScriptedVlm(
        analyses=[
            Analysis("漏水", "水管漏水", "high", 0.9),
            Analysis("电气故障", "配电箱冒烟", "medium", 0.8),
        ]
    )
    chat = Chat(make_engine(vlm=vlm))
    chat.image(pic(1))
    first_key = session_of(fake_store, chat).pending["image_key"]
    r = chat.image(pic(2))
    assert r.state == "waiting_location"
    assert texts(r) == [
        say("zh", "photo_replaced"),
        say("zh", "analysis", alarm_type="电气故障", severity=say("zh", "severity_medium"), description="配电箱冒烟"),
        say("zh", "ask_location"),
    ]
    pending = session_of(fake_store, chat).pending
    assert pending["image_key"] != first_key and storage.get(pending["image_key"]) == pic(2)
    assert pending["alarm_type"] == "电气故障"
    assert [c["photo"].data for c in vlm.analyze_calls] == [pic(1), pic(2)]


def test_photo_in_waiting_confirm_replaces_keeps_location_and_shows_summary(
    make_engine: Callable[..., Conversation],
    fake_store: SessionStore,
    orders: SqlWorkOrders,
    storage: LocalFolderStore,
) -> None:
    vlm = ScriptedVlm(
        analyses=[
            Analysis("漏水", "水管漏水", "high", 0.9),
            Analysis("通道堵塞", "消防通道堆放杂物", "low", 0.7),
        ]
    )
    chat = Chat(make_engine(vlm=vlm))
    chat.image(pic(1))
    chat.text("5号楼楼梯间")
    r = chat.image(pic(2))
    assert r.state == "waiting_confirm"
    assert texts(r)[0] == say("zh", "photo_replaced")
    assert "消防通道堆放杂物" in texts(r)[1]
    summary = texts(r)[-1]
    assert "通道堵塞" in summary and "5号楼楼梯间" in summary and "水管漏水" not in summary
    oid = chat.text("确认").order_id
    order = orders.get(oid)  # type: ignore[arg-type]
    assert order is not None and order.alarm_type == "通道堵塞"
    assert storage.get(order.report_photo_key) == pic(2)


# ==========================================================================================================
# VLM failures while reporting
# ==========================================================================================================
def test_vlm_error_keeps_the_photo_and_retry_analyses_again(
    make_engine: Callable[..., Conversation], fake_store: SessionStore, storage: LocalFolderStore
) -> None:
    vlm = ScriptedVlm(analyses=[VlmError("HTTP 500"), Analysis("电气故障", "插座烧焦", "medium", 0.6)])
    chat = Chat(make_engine(vlm=vlm))
    r = chat.image(pic(1))
    assert r.state == "waiting_location"
    assert texts(r) == [say("zh", "vlm_failed"), say("zh", "ask_type", choices=CHOICES_ZH)]
    assert list(chat.buttons())[-2:] == [say("zh", "choice_retry"), say("zh", "choice_cancel")]
    pending = session_of(fake_store, chat).pending
    assert storage.get(pending["image_key"]) == pic(1)
    assert "alarm_type" not in pending

    r = chat.text("重试")
    assert r.state == "waiting_location"
    assert texts(r)[0] == say(
        "zh", "analysis", alarm_type="电气故障", severity=say("zh", "severity_medium"), description="插座烧焦"
    )
    assert session_of(fake_store, chat).pending["alarm_type"] == "电气故障"
    assert [c["photo"].data for c in vlm.analyze_calls] == [pic(1), pic(1)]


def test_vlm_error_then_pick_by_number(make_engine: Callable[..., Conversation], orders: SqlWorkOrders) -> None:
    chat = Chat(make_engine(vlm=ScriptedVlm(analyses=[VlmError("bad json")])))
    chat.image(pic(1))
    chat.text("4")
    chat.text("大门")
    oid = chat.text("确认").order_id
    assert orders.get(oid).alarm_type == "非法入侵"  # type: ignore[arg-type, union-attr]


def test_retry_without_a_photo(chat: Chat) -> None:
    assert texts(chat.text("重试")) == [say("zh", "welcome")]  # idle: a hint, not a crash


def test_vlm_history_is_passed_as_context(make_engine: Callable[..., Conversation]) -> None:
    vlm = ScriptedVlm()
    chat = Chat(make_engine(vlm=vlm))
    chat.text("你好")
    chat.image(pic(1))
    history = vlm.analyze_calls[0]["history"]
    assert [h["role"] for h in history] == ["user", "bot"] and history[0]["text"] == "你好"


# ==========================================================================================================
# Bad photos
# ==========================================================================================================
@pytest.mark.parametrize("state", ["idle", "waiting_location"])
@pytest.mark.parametrize(
    ("kind", "reply"),
    [
        ("text-bytes", "not_image"),
        ("oversized", "image_too_large"),
        ("edge-too-large", "image_too_large"),
        ("empty", "not_image"),
        ("edge-download-failed", "download_failed"),
    ],
)
def test_bad_photos_are_refused(
    make_engine: Callable[..., Conversation],
    settings: Settings,
    fake_store: SessionStore,
    state: str,
    kind: str,
    reply: str,
) -> None:
    small = settings.with_(max_image_bytes=len(pic(1)) + 100)
    chat = Chat(make_engine(settings=small))
    if state == "waiting_location":
        chat.image(pic(1))
    before = session_of(fake_store, chat)
    files_before = stored_files(settings.storage_dir)
    sends = {
        "text-bytes": lambda: chat.image(b"hello, I am plain text pretending to be a jpeg"),
        "oversized": lambda: chat.image(photo(5, size=(1200, 900), quality=95)),
        "edge-too-large": lambda: chat.image(b"", problem="too_large"),
        "empty": lambda: chat.image(b""),
        "edge-download-failed": lambda: chat.image(b"", problem="download_failed"),
    }
    r = sends[kind]()
    limit_mb = round(small.max_image_bytes / 1024 / 1024, 1)
    assert texts(r) == [say("zh", reply, limit_mb=limit_mb)]
    assert r.state == state
    assert stored_files(settings.storage_dir) == files_before
    after = session_of(fake_store, chat)
    assert (after.pending if after else {}) == (before.pending if before else {})
