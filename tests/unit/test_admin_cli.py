"""``flask sessions|orders|stats|audit`` through Flask's CLI runner: tables, --json, exit codes, audit as "cli"."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import wcwidth
from flask import Flask
from flask.testing import FlaskCliRunner

from bot.adapters.redis.store import SessionStore
from bot.adapters.sql.orders import SqlWorkOrders
from bot.adapters.storage import LocalFolderStore
from bot.config import Settings
from handlers.web.app import create_app
from tests.support.admin import admin_app, report_order, runtime, stuck_closing
from tests.support.engine import Chat, photo


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
    assert lines[0].split() == [
        "KEY",
        "STATE",
        "WAITING",
        "FOR",
        "PENDING",
        "LAST",
        "ACTIVITY",
        "(Asia/Shanghai)",
        "LEFT",
    ]
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


def test_without_a_shared_store_every_ops_command_refuses_with_exit_3(
    settings: Settings, storage: LocalFolderStore, orders: SqlWorkOrders
) -> None:
    # The embedded defaults (no REDIS_URL): an empty table here would read as "nobody is stuck".
    embedded = create_app(settings, storage=storage, orders=orders, vlm=None).test_cli_runner()
    for args in (["sessions", "list"], ["sessions", "show", "zhaoliu"], ["orders", "list"], ["stats"], ["audit"]):
        refused = embedded.invoke(args=args)
        assert refused.exit_code == 3, args
        assert "REDIS_URL is not set" in refused.output and "KEY" not in refused.output, args


def test_show_finds_a_session_by_user_id_on_any_platform(app: Flask, cli: FlaskCliRunner) -> None:
    stuck_closing(user(app, "zhaoliu", platform="wecom"), report_order(user(app, "zhaoliu", platform="wecom")))
    user(app, "zhaoliu2").text("hi")
    shown = cli.invoke(args=["sessions", "show", "zhaoliu"])
    assert shown.exit_code == 0 and "wecom:t1:zhaoliu" in shown.output and "waiting_close_photo" in shown.output
    assert json.loads(cli.invoke(args=["sessions", "show", "zhaoliu", "--json"]).output)["key"] == "wecom:t1:zhaoliu"
    # the same lookup for the commands that change a session
    assert "wecom:t1:zhaoliu: waiting_close_photo → idle" in cli.invoke(args=["sessions", "reset", "zhaoliu"]).output

    user(app, "zhaoliu", platform="slack").text("hi")
    several = cli.invoke(args=["sessions", "show", "zhaoliu"])
    assert several.exit_code == 1 and "2 live sessions" in several.output
    assert "wecom:t1:zhaoliu" in several.output and "slack:t1:zhaoliu" in several.output

    near = cli.invoke(args=["sessions", "show", "zhao"])
    assert near.exit_code == 1 and "user ids containing it" in near.output and "generic:t1:zhaoliu2" in near.output
    nothing = cli.invoke(args=["sessions", "show", "wangwu"])
    assert nothing.exit_code == 1 and "no live session of user id 'wangwu'" in nothing.output
    assert "platform:tenant:user" in nothing.output


def test_tables_align_chinese_text_by_display_width_and_drop_terminal_escapes(app: Flask, cli: FlaskCliRunner) -> None:
    chat = user(app, "wang")
    chat.image(photo(5))
    chat.text("1")
    chat.text("3号楼东门\x1b[2J\x1b[31m red")
    lines = cli.invoke(args=["sessions", "list"]).output.splitlines()
    header, row = lines[0], lines[2]
    at = header.index("LAST ACTIVITY")
    assert wcwidth.width(row[: row.index("20")]) == at  # the timestamp column starts under its header
    shown = cli.invoke(args=["sessions", "show", chat.key]).output
    assert "\x1b" not in shown and "3号楼东门" in shown
    rows = [line for line in shown.splitlines() if line.startswith("20") and line.endswith(("-", ".jpg"))]
    assert len(rows) == 8
    photo_columns = {wcwidth.width(line) - len(line.rsplit(" ", 1)[1]) for line in rows}
    assert len(photo_columns) == 1  # the PHOTO column starts at the same place after Chinese messages


def test_cancel_without_a_reason_records_the_default(app: Flask, cli: FlaskCliRunner) -> None:
    order_id = report_order(user(app, "alice"))
    assert cli.invoke(args=["orders", "cancel", order_id]).exit_code == 0
    shown = json.loads(cli.invoke(args=["orders", "show", order_id, "--json"]).output)
    assert shown["status"] == "cancelled" and shown["cancel_reason"] == "cancelled by ops"


def test_reset_keeps_the_time_an_ops_engineer_gave(app: Flask, cli: FlaskCliRunner) -> None:
    alice = user(app, "alice")
    stuck_closing(alice, report_order(alice))
    assert cli.invoke(args=["sessions", "ttl", alice.key, "7200"]).exit_code == 0
    assert cli.invoke(args=["sessions", "reset", alice.key]).exit_code == 0
    assert runtime(app).store.ttl(alice.key) > 7000
    bob = user(app, "bob")
    stuck_closing(bob, report_order(bob, seed=2))
    assert cli.invoke(args=["sessions", "reset", bob.key]).exit_code == 0
    assert 590 <= runtime(app).store.ttl(bob.key) <= 600


def test_tables_show_times_in_the_users_time_zone_and_name_it(
    settings: Settings, fake_store: SessionStore, storage: LocalFolderStore, orders: SqlWorkOrders
) -> None:
    """The bot tells users the time in TIMEZONE; the engineer comparing notes with them reads the same clock."""
    app = admin_app(settings, fake_store, storage, orders, token="", timezone="America/Sao_Paulo")
    cli, zone = app.test_cli_runner(), ZoneInfo("America/Sao_Paulo")
    alice = user(app, "alice")
    order_id = report_order(alice)
    updated_at = runtime(app).store.load(alice.key).updated_at  # type: ignore[union-attr]
    last, last_utc = (datetime.fromtimestamp(updated_at, z).strftime("%Y-%m-%d %H:%M:%S") for z in (zone, UTC))
    created = orders.get(order_id).created_at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")  # type: ignore[union-attr]

    listed = cli.invoke(args=["sessions", "list"]).output
    assert "LAST ACTIVITY (America/Sao_Paulo)" in listed and last in listed and last_utc not in listed
    shown = cli.invoke(args=["sessions", "show", alice.key]).output
    assert re.search(rf"^last activity +{last} \(America/Sao_Paulo\)$", shown, re.M), shown
    assert "AT (America/Sao_Paulo)" in shown
    orders_listed = cli.invoke(args=["orders", "list"]).output
    assert "CREATED (America/Sao_Paulo)" in orders_listed and created in orders_listed
    order_shown = cli.invoke(args=["orders", "show", order_id]).output
    assert re.search(rf"^created +{created} \(America/Sao_Paulo\)$", order_shown, re.M), order_shown
    assert cli.invoke(args=["sessions", "reset", alice.key]).exit_code == 0
    audited_at = json.loads(cli.invoke(args=["audit", "--json"]).output)["items"][0]["at"]
    audit = cli.invoke(args=["audit"]).output
    assert "AT (America/Sao_Paulo)" in audit
    assert datetime.fromisoformat(audited_at).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S") in audit
    # for scripts, --json keeps ISO 8601 in UTC
    as_json = json.loads(cli.invoke(args=["sessions", "show", alice.key, "--json"]).output)
    assert as_json["last_activity"].endswith("Z")
