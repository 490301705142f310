"""The order's timeline in the admin API and on the admin order page: every move with who, when, from and to,
and a note's text, as typed in the chat (bot.dialogue.flows.life) through the engine."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from bot.adapters.redis.store import SessionStore
from bot.adapters.sql.orders import SqlWorkOrders
from bot.adapters.storage import LocalFolderStore
from bot.config import Settings
from bot.orders import moves
from bot.ports import Reporter
from bot.replies import say
from tests.support.admin import AUTH, admin_app, report_order, runtime
from tests.support.audio import note
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


def test_ops_move_an_order_through_the_api_audited(
    settings: Settings, fake_store: SessionStore, storage: LocalFolderStore, orders: SqlWorkOrders
) -> None:
    app: Flask = admin_app(settings, fake_store, storage, orders)
    order_id = report_order(Chat(runtime(app).engine, user="alice", platform="generic"))
    client: FlaskClient = app.test_client()

    def move(**body: object) -> tuple[int, dict]:
        answer = client.post(f"/admin/api/orders/{order_id}/move", headers=AUTH, json=body)
        return answer.status_code, answer.json

    assert move(action="start") == (409, {"error": f"order {order_id} is open: it cannot be start now"})
    assert move(action="fly")[0] == 400 and move()[0] == 400
    assert move(action="hand_over", to="bob")[0] == 400  # a person is {platform, tenant, user}
    assert move(action="note")[0] == 400 and move(action="note", text=" ")[0] == 400
    bob = {"platform": "generic", "tenant": "", "user": "bob"}
    assert move(action="hand_over", to=bob)[0] == 409  # an unclaimed order is claimed, not handed over
    assert move(action="claim")[1]["life"] == "claimed"
    status, moved = move(action="hand_over", to=bob)
    assert status == 200 and moved["assignee"]["user"] == "bob" and moved["life"] == "claimed"
    assert move(action="hold", reason="等配件")[1]["hold_reason"] == "parts"
    assert (
        client.post("/admin/api/orders/WO-20200101-ABCDE/move", headers=AUTH, json={"action": "start"}).status_code
        == 404
    )
    audit = client.get("/admin/api/audit", headers=AUTH).json["items"]
    moves = [a for a in audit if a["action"] == "order.move"]
    assert {(a["before"]["life"], a["after"]["life"], a["after"]["action"]) for a in moves} == {
        ("open", "claimed", "claim"),
        ("claimed", "claimed", "hand_over"),
        ("claimed", "on_hold", "hold"),
    }
    timeline = client.get(f"/admin/api/orders/{order_id}", headers=AUTH).json["timeline"]
    assert [(t["kind"], t["actor"]["platform"]) for t in timeline[1:]] == [
        ("claimed", "ops"),
        ("handed_over", "ops"),
        ("on_hold", "ops"),
    ]


def test_a_voice_note_on_the_timeline_plays_on_the_page(
    settings: Settings, fake_store: SessionStore, storage: LocalFolderStore, orders: SqlWorkOrders
) -> None:
    app: Flask = admin_app(settings, fake_store, storage, orders)
    alice = Chat(runtime(app).engine, user="alice", platform="generic")
    order_id = report_order(alice)
    key = storage.put(note("amr"), "audio/amr")  # a WeCom voice note, as a duty thread's note stores it
    by = Reporter("generic", alice.tenant, "alice")
    assert moves.act(orders, settings, "note", order_id, by, text="阀门已关", voice_key=key).done

    client: FlaskClient = app.test_client()
    shown = client.get(f"/admin/api/orders/{order_id}", headers=AUTH).json
    assert shown["timeline"][-1]["voice"]["key"] == key and shown["timeline"][-1]["detail"]["voice_key"] == key
    _login(client)
    html = client.get(f"/admin/orders/{order_id}").get_data(as_text=True)
    assert f'<source src="/admin/images/{key}?play=1" type="audio/wav">' in html


def test_ops_hand_an_order_only_to_someone_of_its_own_platform_and_tenant(
    settings: Settings, fake_store: SessionStore, storage: LocalFolderStore, orders: SqlWorkOrders
) -> None:
    app: Flask = admin_app(settings, fake_store, storage, orders)
    alice = Chat(runtime(app).engine, user="alice", platform="generic")
    order_id = report_order(alice)
    client: FlaskClient = app.test_client()

    def move(**body: object) -> tuple[int, dict]:
        answer = client.post(f"/admin/api/orders/{order_id}/move", headers=AUTH, json=body)
        return answer.status_code, answer.json

    assert move(action="claim")[0] == 200
    for to in (
        {"platform": "slack", "tenant": alice.tenant, "user": "bob"},  # another platform
        {"platform": "generic", "tenant": f"{alice.tenant}-other", "user": "bob"},  # another tenant
    ):
        status, answer = move(action="hand_over", to=to)
        assert status == 400 and "the order's own platform and tenant" in answer["error"], answer
    kept = orders.get(order_id)
    assert kept is not None and kept.assignee is not None and kept.assignee.user != "bob"
    status, moved = move(action="hand_over", to={"platform": "generic", "tenant": alice.tenant, "user": "bob"})
    assert status == 200 and moved["assignee"] == {"platform": "generic", "tenant": alice.tenant, "user": "bob"}
    bob = Reporter("generic", alice.tenant, "bob")
    assert moves.act(orders, settings, "start", order_id, bob).done  # bob is its assignee: the order moves on
    status, moved = move(action="hand_over", to={"platform": "generic", "user": "carol"})  # no tenant: the order's
    assert status == 200 and moved["assignee"] == {"platform": "generic", "tenant": alice.tenant, "user": "carol"}
