"""Ops from a shell on the box: ``flask --app wsgi sessions|orders|stats|audit …``.

The same operations as the admin API (``bot.ops``), recorded in the audit trail as "cli".
Human-readable tables by default, ``--json`` for scripts; quiet unless ``--verbose``. Exit codes:
0 done, 1 not found or not possible, 2 bad usage (click), 3 a backing service is down or there is
no shared store to look at (without ``REDIS_URL`` the command would see an empty store of its own
and read as "nobody is stuck").
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from zoneinfo import ZoneInfo

import click
from flask import Flask
from flask.cli import AppGroup, with_appcontext

from bot.ops import TTL_MAX, TTL_MIN, Ambiguous, Conflict, Invalid, NotFound, Ops, SessionView, UnknownUser
from bot.ports import ORDER_STATUSES, ServiceError
from bot.session_admin import iso
from handlers.logs import verbose_option
from handlers.web.admin import context, times, views
from handlers.web.admin.terminal import table

WHO = "cli"
EXIT_NOT_FOUND = 1
EXIT_UNAVAILABLE = 3
DEFAULT_CANCEL_REASON = "cancelled by ops"
NO_SHARED_STORE = (
    "error: REDIS_URL is not set, so this command would look at an empty in-process store of its own, "
    "not at the bot's sessions. Run it with the same REDIS_URL and DATABASE_URL as the web process."
)


def ops() -> Ops:
    """The app's ``Ops``; without a shared store, a clear refusal (exit 3) instead of an empty answer."""
    found = context.ops()
    if not found.store.shared:
        click.echo(NO_SHARED_STORE, err=True)
        sys.exit(EXIT_UNAVAILABLE)
    return found


def _zone() -> ZoneInfo:
    """Tables show times in TIMEZONE, as the users see them (``--json`` keeps ISO 8601 UTC for scripts)."""
    return context.ops().settings.zone


def _when(moment: str | None) -> str | None:
    """A time in a column whose header names the zone (``times.heading``)."""
    return times.local(moment, _zone())


def _named(moment: str | None) -> str | None:
    """A time standing alone, with its zone."""
    return times.named(moment, _zone())


def _json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


@contextmanager
def _errors() -> Iterator[None]:
    """Ops exceptions → one line on stderr and a meaningful exit code."""
    try:
        yield
    except (NotFound, Conflict) as exc:
        click.echo(f"error: {exc}", err=True)
        if isinstance(exc, (UnknownUser, Ambiguous)):
            _candidates(exc.candidates)
        sys.exit(EXIT_NOT_FOUND)
    except Invalid as exc:
        raise click.UsageError(str(exc)) from None
    except ServiceError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_UNAVAILABLE)


def _minutes(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds // 60}:{seconds % 60:02d}"


def _photo(photo: dict[str, Any] | None) -> str | None:
    return (photo["url"] or photo["key"]) if photo else None


def _as_json_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--json`` and ``--verbose``, which every ops command takes."""
    return verbose_option(click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")(fn))


@click.group("sessions", cls=AppGroup)
def sessions() -> None:
    """Find, inspect and reset users' sessions."""


@sessions.command("list")
@click.option("--state", default=None, help="idle, waiting_location, waiting_confirm, waiting_close_photo")
@click.option("--platform", default=None)
@click.option("-q", "--query", "q", default=None, help="part of the user id")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 200))
@click.option("--cursor", default=None, help="next_cursor of the previous page")
@_as_json_option
def sessions_list(
    state: str | None, platform: str | None, q: str | None, limit: int, cursor: str | None, as_json: bool
) -> None:
    """Live sessions, newest activity first."""
    with _errors():
        page = views.page(
            ops().list_sessions(state=state, platform=platform, q=q, cursor=cursor, limit=limit), views.session_row
        )
    if as_json:
        _json(views.page_json(page))
        return
    rows = [
        (s["key"], s["state"], s["waiting_for"], s["pending"], _when(s["last_activity"]), _minutes(s["seconds_left"]))
        for s in page.items
    ]
    last_activity = times.heading("LAST ACTIVITY", _zone())
    click.echo(table(rows, ("KEY", "STATE", "WAITING FOR", "PENDING", last_activity, "LEFT")))
    if page.next_cursor:
        click.echo(f"\nmore: --cursor {page.next_cursor}")


def _pending_rows(shown: dict[str, Any]) -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for name, value in shown.items():
        if name == "photo":
            value = _photo(value)
        elif name == "location":
            value = value["text"] + (f"  {value['map_url']}" if value["map_url"] else "")
        rows.append((name.replace("_", " "), value))
    return rows


def _candidates(found: list[SessionView]) -> None:
    """The sessions a bare user id could have meant (``Ops.resolve`` found several, or none exactly)."""
    if found:
        rows = [(v.session.key, v.session.state, _when(iso(v.session.updated_at))) for v in found]
        click.echo(table(rows, ("KEY", "STATE", times.heading("LAST ACTIVITY", _zone()))), err=True)


@sessions.command("show")
@click.argument("key")
@_as_json_option
def sessions_show(key: str, as_json: bool) -> None:
    """Everything about one session. KEY is platform:tenant:user, or a user id found on any platform."""
    with _errors():
        s = views.session_detail(ops(), ops().session(ops().resolve(key)))
    if as_json:
        _json(s)
        return
    click.echo(
        table(
            [
                ("key", s["key"]),
                ("state", s["state"]),
                ("waiting for", s["waiting_for"]),
                ("time left", _minutes(s["seconds_left"])),
                ("last activity", _named(s["last_activity"])),
                ("started", _named(s["created_at"])),
                ("turns", s["turns"]),
            ],
            ("FIELD", "VALUE"),
        )
    )
    if s["pending_view"]:
        click.echo("\npending:")
        click.echo(table(_pending_rows(s["pending_view"]), ("FIELD", "VALUE")))
    click.echo("\nhistory (oldest first):")
    rows = [
        (
            _when(h.get("at")),
            h.get("role"),
            h.get("text") or (f"[{h.get('kind')}]" if h.get("kind") else ""),
            h.get("image_key"),
        )
        for h in s["history"]
    ]
    click.echo(table(rows, (times.heading("AT", _zone()), "WHO", "MESSAGE", "PHOTO")))


@sessions.command("reset")
@click.argument("key")
@click.option("--notify", is_flag=True, help="tell the user through their platform")
@_as_json_option
def sessions_reset(key: str, notify: bool, as_json: bool) -> None:
    """Back to idle, pending fields cleared, history kept (KEY as for show)."""
    with _errors():
        key = ops().resolve(key)
        result = ops().reset(key, who=WHO, notify=notify)
    if as_json:
        _json(result)
        return
    told = "" if not notify else (" — user told" if result["notified"] else " — user NOT told (no push channel)")
    click.echo(f"{key}: {result['previous_state']} → {result['state']}{told}")


@sessions.command("delete")
@click.argument("key")
@_as_json_option
def sessions_delete(key: str, as_json: bool) -> None:
    """Forget the session entirely (KEY as for show)."""
    with _errors():
        key = ops().resolve(key)
        result = ops().delete(key, who=WHO)
    _json(result) if as_json else click.echo(f"{key}: deleted")


@sessions.command("ttl")
@click.argument("key")
@click.argument("seconds", type=click.IntRange(TTL_MIN, TTL_MAX))
@_as_json_option
def sessions_ttl(key: str, seconds: int, as_json: bool) -> None:
    """Set how long the session lives from now (60 to 86400 seconds; KEY as for show)."""
    with _errors():
        key = ops().resolve(key)
        result = ops().set_ttl(key, seconds, who=WHO)
    _json(result) if as_json else click.echo(f"{key}: expires in {seconds} s")


@click.group("orders", cls=AppGroup)
def orders() -> None:
    """Look up and cancel work orders."""


@orders.command("list")
@click.option("--status", type=click.Choice(ORDER_STATUSES), default=None)
@click.option("-q", "--query", "q", default=None, help="part of the id, user, place or description")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 200))
@click.option("--cursor", default=None)
@_as_json_option
def orders_list(status: str | None, q: str | None, limit: int, cursor: str | None, as_json: bool) -> None:
    """Orders, newest first."""
    with _errors():
        found = ops().list_orders(status=status, q=q, cursor=cursor, limit=limit)
        page = views.page(found, lambda o: views.order_row(ops(), o))
    if as_json:
        _json(views.page_json(page))
        return
    rows = [
        (o["id"], o["status"], o["alarm_type"], o["location"], o["reporter"]["session_key"], _when(o["created_at"]))
        for o in page.items
    ]
    click.echo(table(rows, ("ID", "STATUS", "TYPE", "LOCATION", "REPORTER", times.heading("CREATED", _zone()))))
    if page.next_cursor:
        click.echo(f"\nmore: --cursor {page.next_cursor}")


@orders.command("show")
@click.argument("order_id")
@_as_json_option
def orders_show(order_id: str, as_json: bool) -> None:
    """One order with its photos and the conversation that led to it."""
    with _errors():
        o = views.order_detail(ops(), ops().order(order_id))
    if as_json:
        _json(o)
        return
    click.echo(
        table(
            [
                ("id", o["id"]),
                ("status", o["status"]),
                ("type", f"{o['alarm_type']} ({o['severity']})"),
                ("description", o["description"]),
                ("location", o["location"]),
                ("reporter", o["reporter"]["session_key"]),
                ("created", _named(o["created_at"])),
                ("closed", _named(o["closed_at"])),
                ("photo check", o["vlm_reason"]),
                ("cancel reason", o["cancel_reason"]),
                ("before photo", _photo(o["report_photo"])),
                ("after photo", _photo(o["close_photo"])),
            ],
            ("FIELD", "VALUE"),
        )
    )
    click.echo("\nconversation:")
    click.echo(
        table([(h.get("role"), h.get("text") or h.get("kind")) for h in o.get("history", [])], ("WHO", "MESSAGE"))
    )


@orders.command("cancel")
@click.argument("order_id")
@click.option("--reason", default=DEFAULT_CANCEL_REASON, show_default=True, help="recorded on the order")
@_as_json_option
def orders_cancel(order_id: str, reason: str, as_json: bool) -> None:
    """Cancel an open order (the audit trail records it as "cli")."""
    with _errors():
        o = views.order_row(ops(), ops().cancel_order(order_id, reason, who=WHO))
    _json(o) if as_json else click.echo(f"{o['id']}: cancelled")


@click.command("stats")
@with_appcontext
@_as_json_option
def stats(as_json: bool) -> None:
    """Active sessions by state and platform, orders, turns in the last hour, Redis."""
    with _errors():
        s = ops().stats()
    if as_json:
        _json(s)
        return
    sessions_ = s["sessions"]
    click.echo(f"active sessions (last {sessions_['window_seconds']} s): {sessions_['active']}")
    click.echo(table(list(sessions_["by_state"].items()), ("STATE", "SESSIONS")))
    click.echo()
    click.echo(table(list(sessions_["by_platform"].items()), ("PLATFORM", "SESSIONS")))
    click.echo()
    orders_ = s["orders"] or {}
    click.echo(table(list(orders_.items()), ("ORDERS", "COUNT")) if orders_ else "orders: unavailable")
    redis_ = s["redis"]
    click.echo(f"\nturns in the last hour: {s['turns_last_hour']}")
    masters = f" over {redis_['masters']} cluster masters" if redis_.get("masters") else ""
    click.echo(f"redis: {redis_['version'] or '?'}, memory {redis_['used_memory_human'] or '?'}{masters}")
    for problem in s["problems"]:
        click.echo(f"problem: {problem}", err=True)


@click.command("audit")
@with_appcontext
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 200))
@click.option("--cursor", default=None)
@_as_json_option
def audit(limit: int, cursor: str | None, as_json: bool) -> None:
    """The audit trail, newest first."""
    with _errors():
        page = views.page(ops().audit_log(cursor=cursor, limit=limit), views.audit_row)
    if as_json:
        _json(views.page_json(page))
        return
    rows = [(_when(e["at"]), e["who"], e["action"], e["target"], e["before"], e["after"]) for e in page.items]
    click.echo(table(rows, (times.heading("AT", _zone()), "WHO", "ACTION", "TARGET", "BEFORE", "AFTER")))
    if page.next_cursor:
        click.echo(f"\nmore: --cursor {page.next_cursor}")


def register(app: Flask) -> None:
    for command in (sessions, orders, stats, audit):
        app.cli.add_command(command)
