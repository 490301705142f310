"""The machine's table and the turn model hold to each other: every name in the table is a method."""

from __future__ import annotations

import inspect

import pytest

from bot.dialogue.machine import ROUTES, STATES, TRANSITIONS, TRIGGERS, route
from bot.dialogue.turn import RESPONDERS, Turn

CALLBACK_KEYS = ("conditions", "unless", "prepare", "before", "after")


def _names(row: dict[str, object], key: str) -> list[str]:
    value = row.get(key)
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)  # type: ignore[call-overload]


@pytest.mark.parametrize("row", TRANSITIONS, ids=lambda r: f"{r['trigger']}:{r['source']}")
def test_every_callback_in_the_table_is_a_method_of_the_turn(row: dict[str, object]) -> None:
    for key in CALLBACK_KEYS:
        for name in _names(row, key):
            assert callable(getattr(Turn, name, None)), f"{key} {name!r} of {row['trigger']} is not a Turn method"


def test_no_method_of_the_turn_shadows_a_trigger() -> None:
    # transitions does not bind a trigger whose name the model already uses (it warns and skips it)
    assert not TRIGGERS & {name for name, _ in inspect.getmembers(Turn)}


def test_every_route_is_a_trigger_or_a_responder() -> None:
    targets = {target for table in ROUTES.values() for target in table.values()}
    unknown = targets - TRIGGERS - set(RESPONDERS)
    assert not unknown, f"routes to nothing: {sorted(unknown)}"
    assert not TRIGGERS & set(RESPONDERS)  # a name means one thing
    for name, method in RESPONDERS.items():
        assert getattr(Turn, name) is method


def test_every_state_has_a_fallback_route_and_every_trigger_routed_exists_from_that_state() -> None:
    sources: dict[str, set[str]] = {}
    for row in TRANSITIONS:
        source = row["source"]
        states = STATES if source == "*" else ([source] if isinstance(source, str) else source)
        for state in states:  # type: ignore[union-attr]
            sources.setdefault(row["trigger"], set()).add(state)  # type: ignore[arg-type]
    for state in STATES:
        assert "*" in ROUTES[state]
        for what in {*ROUTES[state], *ROUTES["*"]}:
            target = route(state, what)
            if target in TRIGGERS:
                assert state in sources[target], f"{what!r} in {state} fires {target!r}, which has no row from there"
