"""The order's timeline in the admin API and on the admin order page: every move with who, when, from and to,
and a note's text, as typed in the chat (bot.dialogue.flows.life) through the engine."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from bot.adapters.redis.store import SessionStore
from bot.adapters.sql.orders import SqlWorkOrders
from bot.adapters.storage import LocalFolderStore
from bot.config import Settings
from bot.replies import say
from tests.support.admin import AUTH, admin_app, report_order, runtime
from tests.support.engine import Chat
from tests.unit.test_admin_page import _login


def test_the_timeline_in_the_api_and_on_the_page(
    settings: Settings, fake_store: SessionStore, storage: LocalFolderStore, orders: SqlWorkOrders
) -> None:
    app: Flask = admin_app(settings, fake_store, storage, orders)
    alice = Chat(runtime(app).engine, user="alice", platform="generic")
    bob = Chat(runtime(app).engine, user="bob", platform="generic")
    order_id = report_order(alice)
    short = order_id[-5:]
    bob.text(f"认领 {order_id}")
    started = bob.text(f"开始 {short}")
    assert [r.text for r in started.replies] == [say("zh", "did_start", order_id=order_id)]
    refused = alice.text(f"挂起 {short} 等配件")  # the reporter may not move the assignee's work
    assert refused.replies[0].text == say("zh", "refuse_who", order_id=order_id, roles="处理人、运维")
    bob.text(f"挂起 {short} 等配件")
    bob.text(f"备注 {short} 阀门已关，等水管工")

    client: FlaskClient = app.test_client()
    shown = client.get(f"/admin/api/orders/{order_id}", headers=AUTH).json
    assert shown["life"] == "on_hold" and shown["hold_reason"] == "parts"
    rows = [(t["kind"], t["from"], t["to"], (t["actor"] or {}).get("user")) for t in shown["timeline"]]
    assert rows == [
        ("created", None, "open", "alice"),
        ("claimed", "open", "claimed", "bob"),
        ("started", "claimed", "in_progress", "bob"),
        ("on_hold", "in_progress", "on_hold", "bob"),
        ("note_added", "on_hold", "on_hold", "bob"),
    ]
    assert shown["timeline"][-1]["detail"] == {"text": "阀门已关，等水管工"}

    _login(client)
    html = client.get(f"/admin/orders/{order_id}").get_data(as_text=True)
    assert 'id="timeline"' in html and "note_added" in html and "阀门已关，等水管工" in html
    assert "in_progress → on_hold" in html and 'id="assignee">bob' in html
