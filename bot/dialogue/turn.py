"""``Turn``: the model the state machine moves for one message; its named callbacks go to the flows."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from bot.dialogue.context import Abandoned, Refused, TurnContext
from bot.dialogue.flows.close import CloseFlow
from bot.dialogue.flows.life import LifeCommands
from bot.dialogue.flows.lookups import Lookups
from bot.dialogue.flows.places import PlaceQuestion
from bot.dialogue.flows.report import ReportFlow
from bot.dialogue.flows.sites import SitePlaces
from bot.dialogue.machine import IDLE, REPORTING, TRIGGERS, SharedMachine, route
from bot.dialogue.next_step import SESSION_CONDITIONS
from bot.dialogue.photos import TurnPhotos

R = TypeVar("R")


# ``transitions`` looks a callback up by name on the model, so each one the table names is an attribute
# of ``Turn``: these make that attribute a call of the flow's method of the same name.
def _report(method: Callable[[ReportFlow], R]) -> Callable[[Turn], R]:
    def callback(turn: Turn) -> R:
        return method(turn.report_flow)

    return _named(callback, method)


def _close(method: Callable[[CloseFlow], R]) -> Callable[[Turn], R]:
    def callback(turn: Turn) -> R:
        return method(turn.close_flow)

    return _named(callback, method)


def _life(method: Callable[[LifeCommands], R]) -> Callable[[Turn], R]:
    def callback(turn: Turn) -> R:
        return method(turn.life)

    return _named(callback, method)


def _place(method: Callable[[PlaceQuestion], R]) -> Callable[[Turn], R]:
    def callback(turn: Turn) -> R:
        return method(turn.places)

    return _named(callback, method)


def _site(method: Callable[[SitePlaces], R]) -> Callable[[Turn], R]:
    def callback(turn: Turn) -> R:
        return method(turn.places.sites)

    return _named(callback, method)


def _lookup(method: Callable[[Lookups], R]) -> Callable[[Turn], R]:
    def callback(turn: Turn) -> R:
        return method(turn.lookups)

    return _named(callback, method)


def _named(callback: Callable[[Turn], R], method: Callable[..., object]) -> Callable[[Turn], R]:
    """The callback under the flow method's name, so a traceback or a debugger names the step."""
    callback.__name__ = method.__name__
    callback.__qualname__ = f"Turn.{method.__name__}"
    callback.__doc__ = method.__doc__
    return callback


class Turn:
    """The model ``bot.dialogue.machine.SharedMachine`` moves for one message: a dispatcher.

    The machine calls the callbacks and conditions of its table by name on this object. Each callback
    is one row of the table below, done by the flow it belongs to; every flow works on the one
    ``TurnContext`` (the turn's inputs and outputs). What is the model's own: the conditions (pure
    checks of the session and the message) and the moves from anywhere (cancel, reset, abandon).
    ``run`` routes the input (``bot.dialogue.machine.route``) to a trigger of the machine or to a
    reply-only responder (``RESPONDERS``).
    """

    def __init__(self, ctx: TurnContext) -> None:
        self.ctx = ctx
        self.photos = TurnPhotos(ctx)
        self.places = PlaceQuestion(ctx)
        self.report_flow = ReportFlow(ctx, self.photos, self.places)
        self.close_flow = CloseFlow(ctx, self.photos)
        self.lookups = Lookups(ctx, self.report_flow)
        self.life = LifeCommands(ctx, self.photos, self.lookups.ask_again)

    # The machine's model attribute; it lives on the context so that a flow's callback run after a move
    # (``ReportFlow.ask_next``) reads the state the move went to.
    @property
    def state(self) -> str:
        return self.ctx.state

    @state.setter
    def state(self, value: str) -> None:
        self.ctx.state = value

    def run(self, machine: SharedMachine) -> None:
        ctx = self.ctx
        what = ctx.incoming.kind if ctx.incoming.kind not in ("text", "action", "voice") else ctx.intent.name
        if ctx.incoming.kind == "voice" and ctx.session.state in REPORTING:
            self.report_flow.keep_voice()  # the audio goes with the report, whatever its words did
        first = route(ctx.session.state, what)
        if first not in TRIGGERS:
            RESPONDERS[first](self)
            return
        action: str | None = first
        while action is not None:  # a callback may ask for one more move (a held photo's next use)
            ctx.follow_up = None
            try:
                ctx.session.state = machine.fire(self, ctx.session.state, action)
            except Refused:
                return  # the user was told why; the state stays as it was
            except Abandoned:
                ctx.session.state = machine.fire(self, ctx.session.state, "abandon")
                return
            action = ctx.follow_up

    # -- conditions: pure checks of the session and the message -----------------------------------------
    def photo_usable(self) -> bool:
        return self.photos.problem() is None

    def type_known(self) -> bool:
        return self.report_flow.chosen_type() is not None

    def photo_tagged(self) -> bool:
        """A QR tag of this tenant's sites is in the report's photos (``bot.sites.qr``)."""
        sites = self.places.sites  # no registry, no photo read for a tag (the registry's answer is cached)
        return bool(sites.registry()) and sites.scanned(self.report_flow.tag_photos) is not None

    def has_report_photo(self) -> bool:
        return SESSION_CONDITIONS["has_report_photo"](self.ctx.pending)

    def has_alarm_type(self) -> bool:
        return SESSION_CONDITIONS["has_alarm_type"](self.ctx.pending)

    # -- a photo no row could use ----------------------------------------------------------------------
    def say_photo_problem(self) -> None:
        self.photos.say_problem()

    # -- from anywhere ----------------------------------------------------------------------------------
    def drop_pending(self) -> None:
        ctx = self.ctx
        had_something = ctx.state_before != IDLE or bool(ctx.pending)
        self.photos.discard_report()
        ctx.discarded += ctx.pending.get("voice_keys") or []  # no order will hold them
        ctx.session.clear_pending()
        ctx.say("cancelled" if had_something else "nothing_to_cancel")

    def forget_pending(self) -> None:
        self.ctx.session.clear_pending()

    # -- the report flow's callbacks (bot.dialogue.flows.report) ------------------------------------------
    look_up_open_orders = _report(ReportFlow.look_up_open_orders)
    has_open_orders = _report(ReportFlow.has_open_orders)
    hold_photo = _report(ReportFlow.hold_photo)
    ask_new_or_fix = _report(ReportFlow.ask_new_or_fix)
    take_report_photo = _report(ReportFlow.take_report_photo)
    say_no_held_photo = _report(ReportFlow.say_no_held_photo)
    ask_next = _report(ReportFlow.ask_next)
    take_location = _report(ReportFlow.take_location)
    take_type = _report(ReportFlow.take_type)
    say_type_unknown = _report(ReportFlow.say_type_unknown)
    analyze_again = _report(ReportFlow.analyze_again)
    say_nothing_to_retry = _report(ReportFlow.say_nothing_to_retry)
    create_order = _report(ReportFlow.create_order)
    announce_order = _report(ReportFlow.announce_order)
    say_need_type = _report(ReportFlow.say_need_type)
    has_same_order = _report(ReportFlow.has_same_order)
    join_order = _report(ReportFlow.join_order)
    announce_joined = _report(ReportFlow.announce_joined)
    show_summary = _report(ReportFlow.show_summary)
    remember_alarm = _report(ReportFlow.remember_alarm)
    take_note = _report(ReportFlow.take_note)

    # -- the questions about the place (bot.dialogue.flows.places) ----------------------------------------
    has_proposed_place = _place(PlaceQuestion.has_proposed_place)
    hold_proposed_place = _place(PlaceQuestion.hold_proposed_place)
    take_proposed_place = _place(PlaceQuestion.take_proposed_place)
    drop_proposed_place = _place(PlaceQuestion.drop_proposed_place)
    drop_location = _place(PlaceQuestion.drop_location)
    ask_what_to_change = _place(PlaceQuestion.ask_what_to_change)

    # -- the registry's sites (bot.dialogue.flows.sites) ------------------------------------------------------
    near_sites = _site(SitePlaces.near_sites)
    hold_near_sites = _site(SitePlaces.hold_near_sites)
    place_unsure = _site(SitePlaces.place_unsure)
    hold_site_choices = _site(SitePlaces.hold_site_choices)
    site_offered = _site(SitePlaces.site_offered)
    take_site = _site(SitePlaces.take_site)

    # -- the close flow's callbacks (bot.dialogue.flows.close) --------------------------------------------
    find_order_to_close = _close(CloseFlow.find_order_to_close)
    ask_for_close_photo = _close(CloseFlow.ask_for_close_photo)
    check_fix = _close(CloseFlow.check_fix)
    announce_close = _close(CloseFlow.announce_close)

    # -- the order's life, typed (bot.dialogue.flows.life) --------------------------------------------------
    move_order = _life(LifeCommands.move_order)
    reopening = _life(LifeCommands.reopening)
    take_reopen_photo = _life(LifeCommands.take_reopen_photo)

    # -- the reply-only responders ROUTES names (bot.dialogue.flows.lookups) ------------------------------
    say_help = _lookup(Lookups.say_help)
    say_status = _lookup(Lookups.say_status)
    say_my_orders = _lookup(Lookups.say_my_orders)
    say_order = _lookup(Lookups.say_order)
    withdraw_order = _lookup(Lookups.withdraw_order)
    claim_order = _lookup(Lookups.claim_order)
    say_unsupported = _lookup(Lookups.say_unsupported)
    say_video = _lookup(Lookups.say_video)
    say_idle_hint = _lookup(Lookups.say_idle_hint)
    say_choice_closed = _lookup(Lookups.say_choice_closed)
    say_need_location = _lookup(Lookups.say_need_location)
    say_finish_first = _lookup(Lookups.say_finish_first)
    say_expect_close_photo = _lookup(Lookups.say_expect_close_photo)
    say_not_understood = _lookup(Lookups.say_not_understood)
    say_rough_is_fine = _lookup(Lookups.say_rough_is_fine)
    say_voice_unheard = _lookup(Lookups.say_voice_unheard)
    say_which_type = _lookup(Lookups.say_which_type)
    say_type_list = _lookup(Lookups.say_type_list)
    acknowledge = _lookup(Lookups.acknowledge)
    say_send_new_photo = _lookup(Lookups.say_send_new_photo)


# The reply-only names ``bot.dialogue.machine.ROUTES`` may give for an input (the others are the machine's triggers).
RESPONDERS: dict[str, Callable[[Turn], None]] = {
    "say_help": Turn.say_help,
    "say_status": Turn.say_status,
    "say_my_orders": Turn.say_my_orders,
    "say_order": Turn.say_order,
    "withdraw_order": Turn.withdraw_order,
    "claim_order": Turn.claim_order,
    "move_order": Turn.move_order,
    "say_unsupported": Turn.say_unsupported,
    "say_video": Turn.say_video,
    "say_idle_hint": Turn.say_idle_hint,
    "say_choice_closed": Turn.say_choice_closed,
    "say_need_location": Turn.say_need_location,
    "say_finish_first": Turn.say_finish_first,
    "say_expect_close_photo": Turn.say_expect_close_photo,
    "say_not_understood": Turn.say_not_understood,
    "say_rough_is_fine": Turn.say_rough_is_fine,
    "say_voice_unheard": Turn.say_voice_unheard,
    "say_which_type": Turn.say_which_type,
    "say_type_list": Turn.say_type_list,
    "ask_what_to_change": Turn.ask_what_to_change,
    "acknowledge": Turn.acknowledge,
    "say_send_new_photo": Turn.say_send_new_photo,
}
