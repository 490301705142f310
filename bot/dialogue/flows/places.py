"""Asking about the place: "is «…» the place?" for a text the bot was not sure of, and "what should change?"."""

from __future__ import annotations

from typing import Any

from bot.dialogue.context import TurnContext
from bot.dialogue.flows.sites import SitePlaces
from bot.dialogue.voice import spoken_place
from bot.messages import Location

MAX_LABEL_CHARS = 500  # of a typed place kept on the order
BUTTON_PLACE_CHARS = 8  # of a place on a button (WeCom shows about ten characters)


class PlaceQuestion:
    """The questions about a report's place; the answer (yes, no, a tap) moves the machine (``accept_place``…)."""

    def __init__(self, ctx: TurnContext) -> None:
        self.ctx = ctx
        self.sites = SitePlaces(ctx)

    def hold_proposed_place(self) -> None:
        intent = self.ctx.intent
        place = spoken_place(intent.arg) if intent.name == "place_and_note" else intent.arg
        self.ctx.pending["proposed_place"] = place[:MAX_LABEL_CHARS]

    def ask_place_check(self) -> None:
        ctx, p = self.ctx, self.ctx.pending
        if p.get("site_choices"):
            self.sites.ask_site_choice()
            return
        current = self.sites.shown(p.get("location"))
        if current:
            ctx.say("place_check_change", place=p["proposed_place"], current=current)
            ctx.offer("place_yes", ctx.t("choice_change_place"), "primary")
            ctx.offer("place_no", ctx.t("choice_keep_place", place=_short(current)))
        else:
            ctx.say("place_check_new", place=p["proposed_place"])
            ctx.offer("place_yes", ctx.t("choice_place_yes"), "primary")
            ctx.offer("place_no", ctx.t("choice_place_no"))
        ctx.offer_cancel()

    def has_proposed_place(self) -> bool:
        return bool(self.ctx.pending.get("proposed_place"))

    def take_proposed_place(self) -> None:
        """Yes (or "use my words" when sites came close): the words are the place; on a site if one clearly matches."""
        location = {"label": self.ctx.pending.pop("proposed_place")}
        shared = self.ctx.pending.pop("shared_location", None)
        if self.ctx.pending.pop("site_choices", None) is None:
            self.sites.land_typed(location)
        self.ctx.pending["location"] = shared or location  # "somewhere else": the coordinates, on no site

    def drop_proposed_place(self) -> None:
        ctx = self.ctx
        ctx.pending.pop("site_choices", None)
        ctx.pending.pop("shared_location", None)
        if ctx.pending.pop("proposed_place", None) is not None:
            ctx.say("place_kept" if ctx.pending.get("location") else "place_not_taken")

    def drop_location(self) -> None:
        """[Change place] after "不对" at the summary: the place goes, and "where?" is asked again."""
        self.ctx.pending.pop("location", None)
        self.ctx.pending.pop("proposed_place", None)
        self.ctx.pending.pop("site_choices", None)
        self.ctx.pending.pop("shared_location", None)

    def ask_what_to_change(self) -> None:
        ctx = self.ctx
        ctx.say("what_to_change")
        ctx.offer("change_place", ctx.t("choice_change_place"))
        ctx.offer("change_type", ctx.t("choice_change_type"))
        ctx.offer_confirm()


def _short(place: str) -> str:
    return place if len(place) <= BUTTON_PLACE_CHARS else place[: BUTTON_PLACE_CHARS - 1] + "…"


def location_text(location: dict[str, Any] | None) -> str:
    """A pending location as the user reads it (``Location.describe``)."""
    if not location:
        return ""
    return Location(location.get("label") or "", location.get("latitude"), location.get("longitude")).describe()
