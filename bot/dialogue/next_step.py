"""What the bot will accept next in a session, read off the machine table.

The prompts the user gets (the summary's last line, "status") and what ops see as "waiting for"
both come from here, so they cannot disagree with what the machine will actually do: a session
waiting to confirm a report without an alarm type needs the type first, because the ``confirm``
row's condition ``has_alarm_type`` does not hold.

The conditions of ``bot.dialogue.machine.TRANSITIONS`` that read only the session are defined here once
(``SESSION_CONDITIONS``); ``bot.dialogue.turn.Turn`` evaluates them through this table too. Conditions
that read the message (``photo_usable``, ``type_known``) are what the right input satisfies.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

from bot.dialogue.machine import IDLE, TRANSITIONS

Need = Literal["location", "alarm_type", "confirm", "close_photo", "photo", "place_check", "photo_use"]

SESSION_CONDITIONS: dict[str, Callable[[Mapping[str, Any]], bool]] = {
    "has_report_photo": lambda pending: bool(pending.get("image_key")),
    "has_alarm_type": lambda pending: bool(pending.get("alarm_type")),
}
# What the user gives to make a session condition hold, and the pending field that records it.
_SUPPLIED_BY: dict[str, tuple[Need, str]] = {
    "has_report_photo": ("photo", "image_key"),
    "has_alarm_type": ("alarm_type", "alarm_type"),
}
# Triggers that do not move a flow forward: ways out, ops, and a new photo (one with a site's QR tag skips "where?").
_NOT_FORWARD = frozenset({"cancel", "reset", "abandon", "photo"})
# The input each trigger on a flow's path takes (the triggers out of idle start a flow: never walked).
_TRIGGER_NEEDS: dict[str, Need] = {"location": "location", "confirm": "confirm", "close_photo": "close_photo"}


def _forward_row(state: str) -> dict[str, Any] | None:
    """The first row leaving ``state`` for another state (rows are tried in order, so it is the main path)."""
    for row in TRANSITIONS:
        source = row["source"]
        sources = [source] if isinstance(source, str) else source
        dest = row["dest"]
        if row["trigger"] in _NOT_FORWARD or dest is None or dest == state:
            continue
        if state in sources or source == "*":
            return row
    return None


def _conditions(row: dict[str, Any]) -> list[str]:
    names = row.get("conditions") or []
    return [names] if isinstance(names, str) else list(names)


def next_steps(state: str, pending: Mapping[str, Any]) -> list[Need]:
    """The inputs, in order, that take a flow in ``state`` back to idle; ``[]`` in idle (anything starts).

    A question the bot asked on the way comes first: "is «…» the place?" (``place_check``) while a text
    it was not sure of waits for a yes or no, and in idle "a new report, or the fix of …?" (``photo_use``)
    while a photo is held.

    What a later row's condition needs from the session is asked first, so one question comes at a
    time in the order a field worker expects: ``waiting_location`` without an alarm type gives
    ``["alarm_type", "location", "confirm"]``, ``waiting_confirm`` without one ``["alarm_type", "confirm"]``.
    """
    if state == IDLE:
        return ["photo_use"] if pending.get("image_key") else []
    needs: list[Need] = ["place_check"] if pending.get("proposed_place") else []
    steps: list[Need] = []  # the triggers along the path
    supposed = dict(pending)  # what the session will hold once the user has given each step
    while state != IDLE and (row := _forward_row(state)) is not None and len(needs) + len(steps) < 8:
        failing = [c for c in _conditions(row) if c in SESSION_CONDITIONS and not SESSION_CONDITIONS[c](supposed)]
        if failing:
            need, field = _SUPPLIED_BY[failing[0]]
            needs.append(need)
            supposed[field] = True
            continue
        steps.append(_TRIGGER_NEEDS[row["trigger"]])
        state = row["dest"]
    return needs + steps


def next_step(state: str, pending: Mapping[str, Any]) -> Need | None:
    """The open question: the one input that moves the session on now, or None (idle, nothing held).

    What the bot asks, what "status" and "help" say, the webhook's ``waiting_for`` and the admin page's
    "waiting for" are all read from here."""
    steps = next_steps(state, pending)
    return steps[0] if steps else None
