"""``Turn``: the model the state machine moves for one message, made of the three flows.

The machine's callbacks (named in ``bot.dialogue.machine.TRANSITIONS``) are its methods; its
conditions are pure checks of the session and the message. ``run`` routes the input
(``bot.dialogue.machine.route``) to a trigger of the machine or to a reply-only responder.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.dialogue.flows.base import Abandoned, Refused
from bot.dialogue.flows.close import CloseFlow
from bot.dialogue.flows.lookups import RESPONDERS, Lookups
from bot.dialogue.machine import IDLE, TRIGGERS, route
from bot.dialogue.next_step import SESSION_CONDITIONS

if TYPE_CHECKING:
    from bot.dialogue.machine import SharedMachine


class Turn(CloseFlow, Lookups):
    def run(self, machine: SharedMachine) -> None:
        what = self.incoming.kind if self.incoming.kind not in ("text", "action") else self.intent.name
        first = route(self.session.state, what)
        if first not in TRIGGERS:
            RESPONDERS[first](self)
            return
        action: str | None = first
        while action is not None:  # a callback may ask for one more move (a held photo's next use)
            self.follow_up = None
            try:
                self.session.state = machine.fire(self, self.session.state, action)
            except Refused:
                return  # the user was told why; the state stays as it was
            except Abandoned:
                self.session.state = machine.fire(self, self.session.state, "abandon")
                return
            action = self.follow_up

    # -- conditions: pure checks of the session and the message -----------------------------------------
    def photo_usable(self) -> bool:
        return self.photo_problem() is None

    def type_known(self) -> bool:
        return self.chosen_type() is not None

    def has_report_photo(self) -> bool:
        return SESSION_CONDITIONS["has_report_photo"](self.pending)

    def has_alarm_type(self) -> bool:
        return SESSION_CONDITIONS["has_alarm_type"](self.pending)

    # -- from anywhere ----------------------------------------------------------------------------------
    def drop_pending(self) -> None:
        had_something = self.state_before != IDLE or bool(self.pending)
        self.discard_report_photo()
        self.session.clear_pending()
        self.say("cancelled" if had_something else "nothing_to_cancel")

    def forget_pending(self) -> None:
        self.session.clear_pending()
