"""The session state machine, declared once as a table.

States and transitions live here; the behaviour hangs off named callbacks of the per-turn
model (``bot.dialogue.turn.Turn``). One ``Machine`` is shared by every turn: a turn's model is added
with the session's state and removed afterwards, so no machine is built per message and only
the state name is persisted.

Reading a row: on ``trigger`` in ``source``, if ``conditions`` hold (pure checks of the session
and the message) run ``before`` (the work: store the photo, ask the VLM, write the order), move
to ``dest`` and run ``after`` (the reply). Work that cannot be done tells the user why and raises
``Refused``: the state stays as it was. Rows of one trigger are tried in order, so a row without
conditions after a conditional one is its fallback; ``dest: None`` keeps the state.
"""

from __future__ import annotations

import threading
from enum import StrEnum
from typing import Any

from transitions import Machine


class State(StrEnum):
    idle = "idle"
    waiting_location = "waiting_location"
    waiting_confirm = "waiting_confirm"
    waiting_close_photo = "waiting_close_photo"


STATES: tuple[str, ...] = tuple(State)
IDLE, LOCATION, CONFIRM, CLOSE_PHOTO = STATES
REPORTING = [LOCATION, CONFIRM]

# The two tables below are laid out by hand so each row reads as one rule.
# fmt: off
TRANSITIONS: list[dict[str, Any]] = [
    # -- the reporter said "not fixed" and was asked what is still wrong: a photo is the answer (reopens it) --
    {"trigger": "photo", "source": IDLE, "dest": None,
     "conditions": ["photo_usable", "reopening"], "before": "take_reopen_photo"},
    # -- report: photo → (type) → where → confirm; each step asks the next question -------------------------
    # a photo in idle from someone with open orders: hold it and ask "a new report, or the fix for WO-…?"
    {"trigger": "photo", "source": IDLE, "dest": None, "prepare": "look_up_open_orders",
     "conditions": ["photo_usable", "has_open_orders"], "before": "hold_photo", "after": "ask_new_or_fix"},
    # a photo with a QR tag of this tenant's sites in it: the place is known, "where?" is skipped
    {"trigger": "photo", "source": [IDLE, LOCATION], "dest": CONFIRM,
     "conditions": ["photo_usable", "photo_tagged"], "before": "take_report_photo", "after": "ask_next"},
    {"trigger": "photo", "source": IDLE, "dest": LOCATION,
     "conditions": "photo_usable", "before": "take_report_photo", "after": "ask_next"},
    {"trigger": "photo", "source": REPORTING, "dest": None,
     "conditions": "photo_usable", "before": "take_report_photo", "after": "ask_next"},
    {"trigger": "photo", "source": [IDLE, *REPORTING], "dest": None, "after": "say_photo_problem"},
    {"trigger": "new_report", "source": IDLE, "dest": CONFIRM,
     "conditions": ["has_report_photo", "photo_tagged"], "before": "take_report_photo", "after": "ask_next"},
    {"trigger": "new_report", "source": IDLE, "dest": LOCATION,
     "conditions": "has_report_photo", "before": "take_report_photo", "after": "ask_next"},
    {"trigger": "new_report", "source": IDLE, "dest": None, "after": "say_no_held_photo"},
    # a shared location near registry sites: the coordinates wait with the nearest three ("which one?")
    {"trigger": "location", "source": REPORTING, "dest": None,
     "conditions": "near_sites", "before": "hold_near_sites", "after": "ask_next"},
    # typed words close to several registry sites: the words wait with the candidates ("which one?")
    {"trigger": "location", "source": REPORTING, "dest": None,
     "conditions": "place_unsure", "before": "hold_site_choices", "after": "ask_next"},
    {"trigger": "location", "source": REPORTING, "dest": CONFIRM, "before": "take_location", "after": "ask_next"},
    {"trigger": "pick_site", "source": REPORTING, "dest": CONFIRM,
     "conditions": "site_offered", "before": "take_site", "after": "ask_next"},
    {"trigger": "pick_site", "source": REPORTING, "dest": None, "after": "ask_next"},
    {"trigger": "choose_type", "source": REPORTING, "dest": None,
     "conditions": "type_known", "before": "take_type", "after": "ask_next"},
    {"trigger": "choose_type", "source": REPORTING, "dest": None, "after": "say_type_unknown"},
    {"trigger": "retry", "source": REPORTING, "dest": None,
     "conditions": "has_report_photo", "before": "analyze_again", "after": "ask_next"},
    {"trigger": "retry", "source": REPORTING, "dest": None, "after": "say_nothing_to_retry"},
    {"trigger": "confirm", "source": CONFIRM, "dest": IDLE,
     "conditions": "has_alarm_type", "before": "create_order", "after": "announce_order"},
    {"trigger": "confirm", "source": CONFIRM, "dest": None, "after": "say_need_type"},
    # the summary said "this looks like WO-…": "Same — add my photo" joins that order instead
    {"trigger": "same_problem", "source": CONFIRM, "dest": IDLE,
     "conditions": "has_same_order", "before": "join_order", "after": "announce_joined"},
    {"trigger": "same_problem", "source": CONFIRM, "dest": None, "after": "show_summary"},
    # text the bot was not sure is a place: "is «…» the place?" — yes takes it, no asks again
    {"trigger": "propose_place", "source": REPORTING, "dest": None, "before": "hold_proposed_place",
     "after": "ask_next"},
    {"trigger": "accept_place", "source": REPORTING, "dest": CONFIRM,
     "conditions": "has_proposed_place", "before": "take_proposed_place", "after": "ask_next"},
    {"trigger": "accept_place", "source": REPORTING, "dest": None, "after": "ask_next"},
    {"trigger": "reject_place", "source": REPORTING, "dest": None, "before": "drop_proposed_place",
     "after": "ask_next"},
    # a voice note's words that are no place, command or choice: the reporter's note on the order
    {"trigger": "add_note", "source": REPORTING, "dest": None, "before": "take_note", "after": "ask_next"},
    # asked where, a spoken "3号楼东门，水管一直在漏水": "is «3号楼东门» the place?", the rest the note
    {"trigger": "place_and_note", "source": REPORTING, "dest": None,
     "before": ["take_note", "hold_proposed_place"], "after": "ask_next"},
    # "不对" at the summary, then [Change place]: back to "where?"
    {"trigger": "change_place", "source": CONFIRM, "dest": LOCATION, "before": "drop_location", "after": "ask_next"},
    {"trigger": "link_alarm", "source": [IDLE, *REPORTING], "dest": None, "after": "remember_alarm"},
    # -- close: "结单 WO-…" → photo of the fixed site (a photo held in idle is checked at once) ------------
    {"trigger": "close", "source": IDLE, "dest": CLOSE_PHOTO,
     "before": "find_order_to_close", "after": "ask_for_close_photo"},
    {"trigger": "close_photo", "source": CLOSE_PHOTO, "dest": IDLE, "before": "check_fix", "after": "announce_close"},
    # the order was closed or cancelled by someone else meanwhile (check_fix raised Abandoned)
    {"trigger": "abandon", "source": CLOSE_PHOTO, "dest": IDLE, "after": "forget_pending"},
    # -- from anywhere -----------------------------------------------------------------------------------------
    {"trigger": "cancel", "source": "*", "dest": IDLE, "after": "drop_pending"},
    {"trigger": "reset", "source": "*", "dest": IDLE, "after": "forget_pending"},
]

TRIGGERS = frozenset(row["trigger"] for row in TRANSITIONS)

# Which trigger (or reply-only responder of ``bot.dialogue.turn.RESPONDERS``) handles each input in each state.
# Inputs: "image", "location", "other", the intents of bot.dialogue.understanding (the keywords of
# bot.dialogue.intents read in the state they are sent in), and "stale_choice" (a tap on a button no longer
# open). A tap that is open routes as the intent its choice stands for. "*" is the fallback.
ROUTES: dict[str, dict[str, str]] = {
    "*": {
        "cancel": "cancel", "help": "say_help", "status": "say_status", "my_orders": "say_my_orders",
        "order_query": "say_order", "withdraw": "withdraw_order", "claim": "claim_order",
        # the order's life, typed (bot.dialogue.flows.life)
        "start": "move_order", "hold": "move_order", "resume": "move_order", "hand_over": "move_order",
        "take_over": "move_order", "unclaim": "move_order", "add_order_note": "move_order",
        "confirm_fixed": "move_order", "reopen": "move_order", "rate": "move_order",
        "other": "say_unsupported", "unclear": "say_not_understood", "unsure": "say_rough_is_fine",
        "voice_unheard": "say_voice_unheard",
        "video": "say_video",
        "stale_choice": "say_choice_closed",
    },
    IDLE: {
        "image": "photo", "close": "close", "new_report": "new_report", "link_alarm": "link_alarm",
        "small_talk": "acknowledge", "*": "say_idle_hint",
    },
    LOCATION: {
        "image": "photo", "location": "location", "propose_place": "propose_place", "accept_place": "accept_place",
        "pick_site": "pick_site", "place_and_note": "place_and_note",
        "reject_place": "reject_place", "choose_type": "choose_type", "number": "choose_type", "note": "add_note",
        "change_type": "say_type_list", "deny": "say_which_type", "retry": "retry", "link_alarm": "link_alarm",
        "confirm": "say_need_location", "change_place": "say_need_location", "close": "say_finish_first",
        "small_talk": "acknowledge", "photo_again": "say_send_new_photo", "urgent": "add_note", "*": "say_help",
    },
    CONFIRM: {
        "image": "photo", "location": "location", "propose_place": "propose_place", "accept_place": "accept_place",
        "pick_site": "pick_site",
        "reject_place": "reject_place", "choose_type": "choose_type", "number": "choose_type", "note": "add_note",
        "change_type": "say_type_list", "change_place": "change_place", "deny": "ask_what_to_change",
        "retry": "retry", "link_alarm": "link_alarm", "confirm": "confirm", "same_problem": "same_problem",
        "close": "say_finish_first", "small_talk": "acknowledge", "photo_again": "say_send_new_photo",
        "urgent": "add_note", "*": "say_help",
    },
    CLOSE_PHOTO: {
        "image": "close_photo", "close": "say_finish_first", "small_talk": "acknowledge",
        "*": "say_expect_close_photo",
    },
}
# fmt: on


def route(state: str, what: str) -> str:
    """The trigger or responder for input ``what`` in ``state``."""
    table = ROUTES[state]
    return ROUTES["*"].get(what) or table.get(what) or table["*"]


class SharedMachine:
    """One Machine for all turns; models come and go under a small lock."""

    def __init__(self) -> None:
        self._machine = Machine(
            model=None,
            states=[s.value for s in State],
            transitions=TRANSITIONS,
            initial=IDLE,
            auto_transitions=False,
            ignore_invalid_triggers=False,
        )
        self._guard = threading.Lock()

    def fire(self, model: Any, state: str, trigger: str) -> str:
        """Run ``trigger`` on ``model`` starting from ``state``; return the state it ends in."""
        with self._guard:
            self._machine.add_model(model, initial=state)
        try:
            model.trigger(trigger)
            return str(model.state)
        finally:
            with self._guard:
                self._machine.remove_model(model)
