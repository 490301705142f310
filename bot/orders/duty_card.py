"""The duty card: an order as the duty chat sees it, platform-neutral (each platform renders it its way).

Its text says what, how bad, where (a map link with coordinates), who reported it and when; its
status line says where the order is in its life (``bot.orders.life``) and who has it. Its buttons follow
that life: **Claim** while nobody has it; then, for the assignee, Start / Hold / Done / Hand over / Unclaim
(Resume while on hold). Each id is ``duty.<action>=<order id>``; the edge takes a tap itself (it is about
the order, not the tapper's conversation): ``duty_tap_of`` reads it back, ``claim_of`` reads a Claim.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from bot.config import Settings
from bot.messages import Choice
from bot.orders.life import HOLD_REASONS
from bot.ports import Order, Reporter
from bot.replies import reason_text, say

CLAIM_PREFIX = "duty.claim="
_PREFIX = "duty."
# the buttons of each life status (the first is the card's main one); what each becomes is ``duty_tap_of``'s
_BUTTONS: dict[str, tuple[str, ...]] = {
    "open": ("claim",),
    "claimed": ("start", "hold_parts", "hold_access", "done", "hand_over", "unclaim"),
    "in_progress": ("hold_parts", "hold_access", "done", "hand_over", "unclaim"),
    "on_hold": ("resume", "done", "hand_over", "unclaim"),
}
TAPS = frozenset(name for names in _BUTTONS.values() for name in names)


def claim_of(choice_id: str) -> str | None:
    """The order id a Claim button's id carries, or None for any other choice."""
    return choice_id.removeprefix(CLAIM_PREFIX) if choice_id.startswith(CLAIM_PREFIX) else None


def duty_tap_of(choice_id: str) -> tuple[str, str] | None:
    """(button, order id) of a duty card's button id (``duty.start=WO-…``), or None for any other choice."""
    name, sep, order_id = choice_id.removeprefix(_PREFIX).partition("=")
    if not choice_id.startswith(_PREFIX) or not sep or name not in TAPS or not order_id:
        return None
    return name, order_id


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
    buttons: tuple[Choice, ...] = ()  # the buttons of the order's life status (Claim while unclaimed)

    @property
    def claim(self) -> Choice | None:
        """The Claim button, while the order is open and unclaimed."""
        first = self.buttons[0] if self.buttons else None
        return first if first is not None and claim_of(first.id) else None

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
    stage = order.life
    who = _name(order.assignee)
    if stage == "closed":
        status = say(lang, "duty_closed", who=_name(order.closed_by), at=when(order.closed_at or datetime.now(UTC)))
    elif stage == "cancelled":
        status = say(lang, "duty_cancelled", reason=reason_text(lang, order.cancel_reason or "") or "-")
    elif stage == "resolved":
        status = say(lang, "duty_resolved", who=who, at=when(order.resolved_at or datetime.now(UTC)))
    elif stage == "on_hold":
        reason = say(lang, f"hold_{order.hold_reason}") if order.hold_reason in HOLD_REASONS else order.hold_reason
        since = when(order.on_hold_since or order.created_at)
        status = say(lang, "duty_on_hold", who=who, reason=reason or "-", at=since)
    elif stage == "in_progress":
        status = say(lang, "duty_started", who=who, at=when(order.started_at or order.created_at))
    elif stage == "claimed":
        status = say(lang, "duty_claimed", who=who, at=when(order.claimed_at or order.created_at))
    else:
        status = say(lang, "duty_unclaimed", order_id=order.id)
    if order.reopen_count and order.status == "open":
        status += " " + say(lang, "duty_reopened", count=order.reopen_count)
    buttons = tuple(
        Choice(f"{_PREFIX}{name}={order.id}", say(lang, f"choice_{name}"), "primary" if n == 0 else "")
        for n, name in enumerate(_BUTTONS.get(stage, ()))
    )
    return DutyCard(order.id, title, tuple(lines), status, order.photo_keys, buttons)


def _name(who: Reporter | None) -> str:
    return who.user if who is not None and who.user else "-"
