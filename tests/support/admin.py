"""Helpers for the ops tests: an app with the admin API on, users driven into known states."""

from __future__ import annotations

from typing import Any

from flask import Flask

from bot.adapters.redis.store import SessionStore
from bot.config import Settings
from bot.ports import ObjectStore, WorkOrders
from handlers.runner.runtime import Runtime
from handlers.web.app import create_app
from tests.support.engine import Chat, photo

TOKEN = "s3cret-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def admin_app(
    settings: Settings,
    store: SessionStore,
    storage: ObjectStore,
    orders: WorkOrders,
    token: str = TOKEN,
    **changes: Any,
) -> Flask:
    """The real app factory with the test's ports, the admin token set, no VLM."""
    return create_app(
        settings.with_(admin_token=token, **changes), store=store, storage=storage, orders=orders, vlm=None
    )


def runtime(app: Flask) -> Runtime:
    return app.extensions["wobot"]


def report_order(chat: Chat, seed: int = 1) -> str:
    """Photo → type → place → confirm: returns the new order's id (no VLM: the user picks the type)."""
    assert chat.report_photo(photo(seed)).state == "waiting_location"
    chat.text("1")
    assert chat.text(f"{seed}号楼东侧走廊").state == "waiting_confirm"
    result = chat.text("确认")
    assert result.order_id, [r.text for r in result.replies]
    return result.order_id


def stuck_closing(chat: Chat, order_id: str) -> None:
    """The user said "close WO-…" and the bot now waits for a photo that never comes."""
    assert chat.text(f"结单 {order_id}").state == "waiting_close_photo"
