"""The duty card: an order as the duty chat sees it, platform-neutral (each platform renders it its way).

Its text says what, how bad, where (a map link with coordinates), who reported it and when; its
status line says who claimed it or how it ended; while the order is open and unclaimed it carries
one button, **Claim**, whose id is ``duty.claim=<order id>``. The edge takes that tap itself (it is
about the order, not the tapper's conversation): ``claim_of`` reads it back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from bot.config import Settings
from bot.messages import Choice
from bot.ports import Order, Reporter
from bot.replies import reason_text, say

CLAIM_PREFIX = "duty.claim="


def claim_choice_id(order_id: str) -> str:
    return f"{CLAIM_PREFIX}{order_id}"


def claim_of(choice_id: str) -> str | None:
    """The order id a Claim button's id carries, or None for any other choice."""
    return choice_id.removeprefix(CLAIM_PREFIX) if choice_id.startswith(CLAIM_PREFIX) else None


def map_link(latitude: float, longitude: float) -> str:
    """A link that opens the coordinates on a map (as the platform sent them)."""
    return (
        f"https://www.openstreetmap.org/?mlat={latitude:.6f}&mlon={longitude:.6f}#map=18/{latitude:.6f}/{longitude:.6f}"
    )


@dataclass(frozen=True)
class DutyCard:
    order_id: str
    title: str
    lines: tuple[str, ...]
    status: str
    photo_keys: tuple[str, ...]
    claim: Choice | None  # the Claim button, while the order is open and unclaimed

    @property
    def text(self) -> str:
        """The whole card as one message (notifications, and platforms without cards)."""
        return "\n".join((self.title, *self.lines, self.status))


def duty_card(order: Order, settings: Settings, overdue: int = 0) -> DutyCard:
    """``overdue``: which reminder this posting is (0 for the first posting)."""
    lang = settings.language

    def when(moment: datetime) -> str:
        return moment.astimezone(settings.zone).strftime("%m-%d %H:%M")

    values = {"order_id": order.id, "alarm_type": order.alarm_type}
    title = say(lang, "duty_title_overdue", count=overdue, **values) if overdue else say(lang, "duty_title", **values)
    lines = [say(lang, "duty_severity", value=say(lang, f"severity_{order.severity}"))]
    if order.description:
        lines.append(say(lang, "duty_description", value=order.description))
    if order.note:
        lines.append(say(lang, "duty_note", value=order.note))
    if order.site is not None:
        lines.append(say(lang, "duty_site", site=order.site.name, id=order.site.id))
        if order.site.zone:
            lines.append(say(lang, "duty_zone", value=order.site.zone))
    if order.location_text and (order.site is None or order.location_text != order.site.name):
        lines.append(say(lang, "duty_location", value=order.location_text))
    if order.latitude is not None and order.longitude is not None:
        lines.append(say(lang, "duty_map", value=map_link(order.latitude, order.longitude)))
    lines.append(say(lang, "duty_reporter", value=order.reporter.user))
    lines.append(say(lang, "duty_reported_at", value=when(order.created_at)))
    if order.more_reporters:
        others = ", ".join(r.user for r in order.more_reporters)
        lines.append(say(lang, "duty_also_reported", count=len(order.more_reporters), value=others))
    lines.append(say(lang, "duty_photos", count=len(order.photo_keys)))
    claim: Choice | None = None
    if order.status == "closed":
        status = say(lang, "duty_closed", who=_name(order.closed_by), at=when(order.closed_at or datetime.now(UTC)))
    elif order.status == "cancelled":
        status = say(lang, "duty_cancelled", reason=reason_text(lang, order.cancel_reason or "") or "-")
    elif order.assignee is not None:
        status = say(lang, "duty_claimed", who=order.assignee.user, at=when(order.claimed_at or order.created_at))
    else:
        status = say(lang, "duty_unclaimed", order_id=order.id)
        claim = Choice(claim_choice_id(order.id), say(lang, "choice_claim"), "primary")
    return DutyCard(order.id, title, tuple(lines), status, order.photo_keys, claim)


def _name(who: Reporter | None) -> str:
    return who.user if who is not None and who.user else "-"
