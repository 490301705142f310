"""A report photo no order will hold is deleted: replaced by a new one, or its report cancelled or reset.
Every photo an order holds stays."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bot.adapters.redis.store import SessionStore
from bot.adapters.storage import LocalFolderStore
from bot.config import Settings
from bot.dialogue.engine import Conversation
from bot.ports import ServiceError
from tests.support.engine import Chat, photo


@pytest.fixture
def chat(make_engine: Callable[..., Conversation]) -> Chat:
    return Chat(make_engine())


def stored(storage_dir: str) -> set[str]:
    root = Path(storage_dir)
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")}


def pending_photo(store: SessionStore, chat: Chat) -> str:
    session = store.load(chat.key)
    assert session is not None
    key: str = session.pending["image_key"]
    return key


@pytest.mark.parametrize("state_after_first", ["waiting_location", "waiting_confirm"])
def test_a_replaced_photo_is_deleted_and_its_history_entry_says_image(
    chat: Chat, fake_store: SessionStore, storage: LocalFolderStore, settings: Settings, state_after_first: str
) -> None:
    storage_dir = settings.storage_dir
    chat.image(photo(1))
    first = pending_photo(fake_store, chat)
    if state_after_first == "waiting_confirm":
        chat.text("1")
        assert chat.text("B1 车库").state == "waiting_confirm"
    chat.image(photo(2))
    second = pending_photo(fake_store, chat)
    assert stored(storage_dir) == {second}
    with pytest.raises(KeyError):
        storage.get(first)
    history = fake_store.load(chat.key).history  # type: ignore[union-attr]
    assert [h.get("image_key") for h in history if h.get("kind") == "image"] == [None, second]


@pytest.mark.parametrize("how", ["cancel", "reset"])
def test_a_dropped_report_deletes_its_photo(
    make_engine: Callable[..., Conversation],
    fake_store: SessionStore,
    storage: LocalFolderStore,
    settings: Settings,
    how: str,
) -> None:
    storage_dir = settings.storage_dir
    engine = make_engine()
    chat = Chat(engine)
    chat.image(photo(1))
    key = pending_photo(fake_store, chat)
    if how == "cancel":
        assert chat.text("取消").state == "idle"
    else:
        assert engine.reset(chat.key) is not None
    with pytest.raises(KeyError):
        storage.get(key)
    assert stored(storage_dir) == set()


def test_photos_that_belong_to_an_order_are_kept(chat: Chat, settings: Settings) -> None:
    storage_dir = settings.storage_dir
    chat.image(photo(1))
    chat.text("1")
    chat.text("B1 车库")
    order_id = chat.text("确认").order_id
    assert order_id
    chat.text(f"结单 {order_id}")
    chat.text("取消")  # leaving the close flow deletes nothing
    chat.text(f"结单 {order_id}")
    closed = chat.image(photo(9))
    assert closed.order_id == order_id
    assert len(stored(storage_dir)) == 2  # the report photo and the close photo


def test_a_storage_failure_on_delete_never_fails_the_turn(
    make_engine: Callable[..., Conversation], fake_store: SessionStore, settings: Settings
) -> None:
    storage_dir = settings.storage_dir

    class KeepsEverything(LocalFolderStore):
        def delete(self, key: str) -> None:
            raise ServiceError("object storage delete failed: AccessDenied")

    chat = Chat(make_engine(storage=KeepsEverything(storage_dir)))
    chat.image(photo(1))
    assert chat.text("取消").state == "idle"
    assert fake_store.load(chat.key).pending == {}  # type: ignore[union-attr]
