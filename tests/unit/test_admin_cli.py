"""``flask sessions|orders|stats|audit`` through Flask's CLI runner: tables, --json, exit codes, audit as "cli"."""

from __future__ import annotations

import json

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner

from bot.config import Settings
from bot.orders import SqlWorkOrders
from bot.storage import LocalFolderStore
from bot.store import SessionStore
from tests.support.admin import admin_app, report_order, runtime, stuck_closing
from tests.support.engine import Chat


@pytest.fixture
def app(settings: Settings, fake_store: SessionStore, storage: LocalFolderStore, orders: SqlWorkOrders) -> Flask:
    # The CLI is there even with the web admin off: it runs on the box.
    return admin_app(settings, fake_store, storage, orders, token="")


@pytest.fixture
def cli(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


def user(app: Flask, name: str, platform: str = "generic") -> Chat:
    return Chat(runtime(app).engine, user=name, platform=platform)


def test_sessions_list_table_and_json(app: Flask, cli: FlaskCliRunner) -> None:
    stuck = user(app, "zhang-0042")
    stuck_closing(stuck, report_order(stuck))
    user(app, "li").text("hi")
    table = cli.invoke(args=["sessions", "list"])
    assert table.exit_code == 0
    lines = table.output.splitlines()
    assert lines[0].split() == ["KEY", "STATE", "WAITING", "FOR", "PENDING", "LAST", "ACTIVITY", "LEFT"]
    assert "generic:t1:zhang-0042" in table.output and "waiting_close_photo" in table.output
    filtered = cli.invoke(args=["sessions", "list", "--state", "waiting_close_photo", "--json"])
    data = json.loads(filtered.output)
    assert [s["user"] for s in data["items"]] == ["zhang-0042"] and data["next_cursor"] is None
    assert json.loads(cli.invoke(args=["sessions", "list", "-q", "ZHANG", "--json"]).output)["items"][0]["user"] == (
        "zhang-0042"
    )
    bad = cli.invoke(args=["sessions", "list", "--state", "asleep"])
    assert bad.exit_code == 2 and "state must be one of" in bad.output


def test_sessions_list_pages_with_cursor(app: Flask, cli: FlaskCliRunner) -> None:
    for i in range(5):
        user(app, f"u{i}").text("hi")
    first = json.loads(cli.invoke(args=["sessions", "list", "--limit", "3", "--json"]).output)
    second = json.loads(
        cli.invoke(args=["sessions", "list", "--limit", "3", "--cursor", first["next_cursor"], "--json"]).output
    )
    keys = [s["key"] for s in first["items"] + second["items"]]
    assert len(keys) == len(set(keys)) == 5 and second["next_cursor"] is None
    assert "more: --cursor" in cli.invoke(args=["sessions", "list", "--limit", "3"]).output


def test_sessions_show(app: Flask, cli: FlaskCliRunner) -> None:
    alice = user(app, "alice")
    alice.text("hi")
    shown = cli.invoke(args=["sessions", "show", alice.key])
    assert shown.exit_code == 0 and "idle" in shown.output and "history" in shown.output
    assert json.loads(cli.invoke(args=["sessions", "show", alice.key, "--json"]).output)["key"] == alice.key
    missing = cli.invoke(args=["sessions", "show", "generic:t1:nobody"])
    assert missing.exit_code == 1 and "no live session" in missing.output


def test_sessions_reset_delete_ttl_and_their_audit(app: Flask, cli: FlaskCliRunner) -> None:
    alice = user(app, "alice")
    stuck_closing(alice, report_order(alice))
    reset = cli.invoke(args=["sessions", "reset", alice.key, "--notify"])
    assert reset.exit_code == 0
    assert "waiting_close_photo → idle" in reset.output and "NOT told" in reset.output
    assert runtime(app).store.load(alice.key).state == "idle"

    assert cli.invoke(args=["sessions", "ttl", alice.key, "59"]).exit_code == 2
    assert cli.invoke(args=["sessions", "ttl", alice.key, "86401"]).exit_code == 2
    ttl = cli.invoke(args=["sessions", "ttl", alice.key, "3600", "--json"])
    assert json.loads(ttl.output) == {"key": alice.key, "seconds_left": 3600}

    assert cli.invoke(args=["sessions", "delete", alice.key]).exit_code == 0
    assert cli.invoke(args=["sessions", "delete", alice.key]).exit_code == 1
    assert cli.invoke(args=["sessions", "reset", alice.key]).exit_code == 1
    assert cli.invoke(args=["sessions", "ttl", alice.key, "600"]).exit_code == 1

    audit = json.loads(cli.invoke(args=["audit", "--json"]).output)["items"]
    assert [(e["action"], e["who"]) for e in audit] == [
        ("session.delete", "cli"),
        ("session.ttl", "cli"),
        ("session.reset", "cli"),
    ]
    assert audit[2]["before"]["state"] == "waiting_close_photo" and audit[2]["after"]["notified"] is False
    assert "session.reset" in cli.invoke(args=["audit"]).output


def test_orders_list_show_cancel(app: Flask, cli: FlaskCliRunner) -> None:
    alice = user(app, "alice")
    order_id = report_order(alice)
    listed = cli.invoke(args=["orders", "list"])
    assert listed.exit_code == 0 and order_id in listed.output and "open" in listed.output
    assert json.loads(cli.invoke(args=["orders", "list", "--status", "closed", "--json"]).output)["items"] == []
    assert cli.invoke(args=["orders", "list", "--status", "lost"]).exit_code == 2
    shown = cli.invoke(args=["orders", "show", order_id])
    assert shown.exit_code == 0 and "before photo" in shown.output and "conversation" in shown.output
    assert json.loads(cli.invoke(args=["orders", "show", order_id, "--json"]).output)["id"] == order_id
    assert cli.invoke(args=["orders", "show", "WO-20200101-ABCDE"]).exit_code == 1
    assert cli.invoke(args=["orders", "cancel", order_id, "--reason", "dup"]).exit_code == 0
    again = cli.invoke(args=["orders", "cancel", order_id, "--reason", "dup"])
    assert again.exit_code == 1 and "cancelled" in again.output


def test_stats(app: Flask, cli: FlaskCliRunner) -> None:
    alice = user(app, "alice")
    stuck_closing(alice, report_order(alice))
    out = cli.invoke(args=["stats"])
    assert out.exit_code == 0
    assert "active sessions (last 600 s): 1" in out.output and "waiting_close_photo  1" in out.output
    data = json.loads(cli.invoke(args=["stats", "--json"]).output)
    assert data["orders"]["open"] == 1 and data["turns_last_hour"] == 5
