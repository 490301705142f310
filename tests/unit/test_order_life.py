"""The order's life table (bot.orders.life) and its moves on SQLite: every action from every status by every role,
allowed and refused, the timeline row each move writes, and auto-confirm on a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.adapters.sql.orders import SqlWorkOrders
from bot.config import Settings
from bot.orders import life, moves
from bot.orders.events import EVENT_TYPES
from bot.ports import NewOrder, Order, Reporter
from tests.support import outbox

REPORTER = Reporter("test", "t1", "rep")
TECH = Reporter("test", "t1", "tech")
OTHER = Reporter("test", "t1", "other")
STRANGER = Reporter("test", "t2", "stranger")


def _order(**changes: Any) -> Order:
    base = Order(
        id="WO-20261206-ABCDE",
        status="open",
        alarm_type="漏水",
        description="",
        severity="high",
        location_text="",
        latitude=None,
        longitude=None,
        report_photo_key="k",
        close_photo_key=None,
        vlm_resolved=None,
        vlm_reason=None,
        reporter=REPORTER,
        alarm_id=None,
        created_at=datetime(2026, 12, 6, tzinfo=UTC),
        closed_at=None,
        history=[],
    )
    return Order(**{**base.__dict__, **changes})


AT = {
    "open": _order(),
    "claimed": _order(assignee=TECH, stage=None),  # claimed before stages existed: read with the assignee
    "in_progress": _order(assignee=TECH, stage="in_progress"),
    "on_hold": _order(assignee=TECH, stage="on_hold", hold_reason="parts"),
    "resolved": _order(assignee=TECH, stage="resolved"),
    "closed": _order(status="closed", assignee=TECH),
    "cancelled": _order(status="cancelled"),
}
WHO = {"reporter": REPORTER, "assignee": TECH, "duty": OTHER, "stranger": STRANGER}

# What each person may do from each status (the table as people read it; anything else is refused).
EXPECTED: dict[tuple[str, str], set[str]] = {
    ("open", "reporter"): {"claim", "close", "withdraw", "note"},
    ("open", "duty"): {"claim", "note"},
    ("open", "assignee"): {"claim", "note"},  # nobody's yet: the technician is one of the duty chat
    ("claimed", "assignee"): {"start", "hold", "resolve", "hand_over", "take_over", "unclaim", "note"},
    ("claimed", "reporter"): {"close", "withdraw", "take_over", "unclaim", "note"},
    ("claimed", "duty"): {"take_over", "unclaim", "note"},
    ("in_progress", "assignee"): {"hold", "resolve", "hand_over", "take_over", "unclaim", "note"},
    ("in_progress", "duty"): {"take_over", "unclaim", "note"},
    ("in_progress", "reporter"): {"close", "withdraw", "take_over", "unclaim", "note"},
    ("on_hold", "reporter"): {"close", "withdraw", "take_over", "unclaim", "note"},
    ("on_hold", "assignee"): {"resume", "resolve", "hand_over", "take_over", "unclaim", "note"},
    ("on_hold", "duty"): {"take_over", "unclaim", "note"},
    ("resolved", "reporter"): {"confirm", "reopen", "note"},
    ("resolved", "assignee"): {"note"},
    ("resolved", "duty"): {"note"},
    ("closed", "reporter"): {"rate", "note"},
    ("closed", "duty"): {"note"},
    ("closed", "assignee"): {"note"},
    ("cancelled", "duty"): {"note"},
    ("cancelled", "reporter"): {"note"},
    ("cancelled", "assignee"): {"note"},
}


@pytest.mark.parametrize("status", list(AT))
@pytest.mark.parametrize("role", list(WHO))
def test_every_action_from_every_status_by_every_role(status: str, role: str) -> None:
    order, who = AT[status], WHO[role]
    roles = life.roles_of(order, who)
    allowed = {action for action in life.TABLE if not life.check(action, order, roles)}
    assert allowed == EXPECTED.get((status, role), set()), (status, role)
    for action in set(life.TABLE) - allowed:  # a refusal says why: not from there, or not theirs
        assert life.check(action, order, roles) in ("state", "who")


def test_ops_may_do_anything_the_status_allows_and_the_bot_only_auto_confirms() -> None:
    ops = life.roles_of(AT["claimed"], Reporter("admin", "", "alice"), ops=True)
    assert not life.check("start", AT["claimed"], ops) and not life.check("cancel", AT["on_hold"], ops)
    assert life.check("confirm", AT["claimed"], ops) == "state"
    bot = life.roles_of(AT["resolved"], None)
    assert not life.check("auto_confirm", AT["resolved"], bot) and life.check("confirm", AT["resolved"], bot) == "who"


def test_close_policy_anyone_lets_the_tenant_resolve() -> None:
    roles = life.roles_of(AT["in_progress"], OTHER)
    assert life.check("resolve", AT["in_progress"], roles) == "who"
    assert life.check("resolve", AT["in_progress"], roles, "anyone") == ""


def test_every_rule_emits_a_known_event_and_names_a_known_status() -> None:
    for rule in life.RULES:
        assert rule.event is None or rule.event in EVENT_TYPES
        assert set(rule.sources) <= set(life.LIFE_STATUSES) and rule.dest in (None, *life.LIFE_STATUSES)


# -- on SQLite, through the repository ------------------------------------------------------------------------


def _new(orders: SqlWorkOrders, key: str = "r1") -> Order:
    new = NewOrder(key, REPORTER, "漏水", "leak", "high", "1号楼", None, None, "photo", None, [])
    return orders.create(new)[0]


def test_a_whole_life_on_sqlite_writes_one_timeline_row_per_move(orders: SqlWorkOrders, settings: Settings) -> None:
    order = _new(orders)
    orders.claim(order.id, TECH)

    def act(action: str, by: Reporter, **params: Any) -> moves.Outcome:
        return moves.act(orders, settings, action, order.id, by, **params)

    assert act("start", OTHER).problem == "who"  # only the assignee
    assert act("start", TECH).order.life == "in_progress"  # type: ignore[union-attr]
    assert act("start", TECH).problem == "state"  # twice: not from there
    held = act("hold", TECH, reason="parts").order
    assert held is not None and held.life == "on_hold" and held.hold_reason == "parts"
    resumed = act("resume", TECH).order
    assert resumed is not None and resumed.life == "in_progress" and resumed.held_seconds >= 0
    assert resumed.on_hold_since is None
    resolved = act("resolve", TECH, photo_key="fix", resolved=True, why="dry").order
    assert resolved is not None and resolved.life == "resolved" and resolved.close_photo_key == "fix"
    reopened = act("reopen", REPORTER, reason="still leaking", photo_key="again").order
    assert reopened is not None and reopened.life == "claimed" and reopened.assignee == TECH
    assert reopened.reopen_count == 1
    act("resolve", TECH, photo_key="fix2", resolved=None, why="")
    closed = act("confirm", REPORTER, rating=4).order
    assert closed is not None and closed.status == "closed" and closed.rating == 4 and closed.closed_by == REPORTER
    kinds = [(row["kind"], row["from_status"], row["to_status"]) for row in orders.timeline(order.id)]
    assert kinds == [
        ("created", None, "open"),
        ("claimed", "open", "claimed"),
        ("started", "claimed", "in_progress"),
        ("on_hold", "in_progress", "on_hold"),
        ("resumed", "on_hold", "in_progress"),
        ("resolved", "in_progress", "resolved"),
        ("reopened", "resolved", "claimed"),
        ("resolved", "claimed", "resolved"),
        ("confirmed", "resolved", "closed"),
    ]
    reopen_row = orders.timeline(order.id)[6]
    assert reopen_row["reason"] == "still leaking" and reopen_row["detail"] == {"photo_key": "again"}
    assert reopen_row["actor_user"] == "rep"
    assert [kind for kind, _ in outbox.kinds(orders, order.id)][2:] == [  # after order.created, order.claimed
        "order.started",
        "order.on_hold",
        "order.resumed",
        "order.resolved",
        "order.reopened",
        "order.resolved",
        "order.confirmed",
    ]


def test_hand_over_take_over_and_unclaim(orders: SqlWorkOrders, settings: Settings) -> None:
    order = _new(orders)
    orders.claim(order.id, TECH)
    handed = moves.act(orders, settings, "hand_over", order.id, TECH, to=OTHER)
    assert handed.order is not None and handed.order.assignee == OTHER and handed.order.life == "claimed"
    assert moves.act(orders, settings, "start", order.id, TECH).problem == "who"  # no longer theirs
    taken = moves.act(orders, settings, "hand_over", order.id, TECH, to=TECH)  # to oneself: take over
    assert taken.action == "take_over" and taken.order is not None and taken.order.assignee == TECH
    back = moves.act(orders, settings, "unclaim", order.id, OTHER)
    assert back.order is not None and back.order.life == "open" and back.order.assignee is None
    rows = orders.timeline(order.id)
    assert rows[2]["detail"] == {"from": _p(TECH), "to": _p(OTHER)} and rows[-1]["kind"] == "unclaimed"
    assert ("order.handed_over", order.id) in outbox.kinds(orders, order.id)
    assert moves.act(orders, settings, "start", order.id, STRANGER).problem in ("state", "who")
    assert moves.act(orders, settings, "start", "WO-20261206-ZZZZZ", TECH).problem == "unknown"


def _p(who: Reporter) -> dict[str, str]:
    return {"platform": who.platform, "tenant": who.tenant, "user": who.user}


def test_auto_confirm_closes_unanswered_resolved_orders_once(orders: SqlWorkOrders, settings: Settings) -> None:
    order = _new(orders)
    orders.claim(order.id, TECH)
    moves.act(orders, settings, "resolve", order.id, TECH, photo_key="fix")
    now = datetime.now(UTC)
    assert moves.auto_confirm(orders, settings, now + timedelta(hours=71)) == 0  # not yet
    later = now + timedelta(hours=settings.auto_confirm_hours, minutes=1)
    assert moves.auto_confirm(orders, settings, later) == 1
    assert moves.auto_confirm(orders, settings, later) == 0  # a second sweep finds nothing
    closed = orders.get(order.id)
    assert closed is not None and closed.status == "closed" and closed.auto_confirmed and closed.closed_by is None
    assert orders.timeline(order.id)[-1]["kind"] == "auto_confirmed"
    assert outbox.kinds(orders, order.id)[-1] == ("order.confirmed", order.id)


def test_hold_reasons_are_read_from_the_words() -> None:
    assert moves.hold_reason("等配件") == "parts" and moves.hold_reason("no access, locked") == "access"
    assert moves.hold_reason("") == "other" and moves.hold_reason("下雨") == "下雨"
    assert moves.hold_reason_text("zh", "parts") == "等配件"
