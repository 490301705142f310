"""``TurnContext``: one turn's inputs and outputs, and the reply helpers every flow uses."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.dialogue import choices, intents
from bot.dialogue.machine import IDLE
from bot.dialogue.services import Services
from bot.dialogue.understanding import understand
from bot.dialogue.voice import hear
from bot.messages import Incoming, Location
from bot.ports import Order, Reporter
from bot.replies import ago, say
from bot.session import Session

# The most open orders offered as buttons ("which one?"); the typed list shows them all.
MAX_ORDER_BUTTONS = 5
MAX_ECHO_CHARS = 300  # of a voice note's words quoted back (its note keeps them whole)


def _quoted(words: str) -> str:
    return words if len(words) <= MAX_ECHO_CHARS else words[: MAX_ECHO_CHARS - 1] + "…"


class Refused(Exception):
    """A transition's work could not be done; the user has been told why and the state stays as it was."""


class Abandoned(Exception):
    """The order being closed was closed or cancelled meanwhile: the close flow ends."""


class TurnContext:
    """One message's worth of work as the flows share it: what came in, what goes out.

    The engine reads the outputs once the turn has run: ``replies``, ``offered``, ``order_id``, ``picked``,
    ``card``, ``stale``, ``errors``, ``discarded``, ``user_entry`` and ``state_before``.
    """

    def __init__(
        self, services: Services, session: Session, incoming: Incoming, *, more_photos_coming: bool = False
    ) -> None:
        self.services = services
        self.settings = services.settings
        self.lang = self.settings.language
        self.session = session
        self.pending = session.pending
        self.incoming = incoming
        # The state as the machine moves it (the model's ``state`` is this): a callback after the move
        # reads the new state here, before the engine stores it in the session.
        self.state = session.state
        self.replies: list[str] = []
        self.offered: list[choices.Offered] = []  # the buttons of this turn's question
        self.picked: str | None = None  # the label of the button this turn's tap took
        self.card: str | None = None  # the text of the message that button was on
        self.stale = False  # this turn's tap was on a choice no longer open
        self.from_offer = False  # the intent is a choice of the open question (tapped, or its number typed)
        self.follow_up: str | None = None  # a trigger to fire after this one (a held photo's next use)
        self.user_entry: dict[str, Any] = {"text": incoming.text, "kind": incoming.kind}
        if incoming.location:
            self.user_entry["location"] = incoming.location.describe()
        self.order_id: str | None = None  # set on the turn that created or closed an order
        self.errors: list[str] = []  # failures the user was told about, for the observer
        self.discarded: list[str] = []  # report photos no order will hold: deleted once the turn is saved
        self.state_before = session.state
        self.more_photos_coming = more_photos_coming  # more photos of a burst are queued behind this one
        self.words = incoming.text  # the turn's text as typed, or a voice note's words as heard
        self.intent = self._intent()  # last: reading a voice note may already say something, or fail

    def _intent(self) -> intents.Intent:
        """What the message asks for. A tap means what its choice means, while that choice is open; a
        bare number in idle picks from the list the bot just showed."""
        incoming, offer = self.incoming, self.session.offer
        if incoming.kind == "action":
            picked = choices.taken(offer, incoming.action)
            intent = choices.intent_of(picked[0]) if picked else None
            if picked is None or intent is None:
                self.stale = True
                self.user_entry["text"] = "[button no longer open]"
                return intents.Intent("stale_choice")
            self.picked = self.user_entry["text"] = picked[1]
            self.card = offer["text"] if offer else None
            self.from_offer = True
            return intent
        if incoming.kind == "voice":
            heard = hear(incoming, self.session, self.services)
            if heard.failed:
                self.errors.append("stt")
            if heard.words:  # quoted first, so a wrong transcription is seen before anything it led to
                self.say("voice_heard", words=_quoted(heard.words))
            self.words = heard.words
            self.user_entry["text"] = heard.words or f"[voice: {heard.intent.arg}]"
            return self._listed(heard.intent)
        if incoming.kind != "text":
            return intents.Intent(incoming.kind)
        return self._listed(understand(incoming.text, self.session, self.settings.alarm_type_list, self.services.nlu))

    def _listed(self, intent: intents.Intent) -> intents.Intent:
        """A number picks from the list the bot just showed: in idle, and wherever that list is of orders ("which
        order?" asked mid-report: "2" is the second order there, not the second alarm type)."""
        offer = self.session.offer
        if intent.name != "number" or not (self.session.state == IDLE or choices.lists_orders(offer)):
            return intent
        listed = choices.numbered(offer, int(intent.arg))
        chosen = choices.intent_of(listed[0]) if listed else None
        self.from_offer = chosen is not None
        return chosen or intent

    # -- replies -------------------------------------------------------------------------------------
    def say(self, name: str, **values: object) -> None:
        self.replies.append(say(self.lang, name, **values))

    def t(self, name: str, **values: object) -> str:
        return say(self.lang, name, **values)

    def offer(self, what: str, label: str, style: choices.Style = "") -> None:
        """A button for this turn's question; the text already says how to type the same choice."""
        self.offered.append((what, label, style))

    def offer_cancel(self) -> None:
        self.offer("cancel", self.t("choice_cancel"), "danger")

    def offer_confirm(self) -> None:
        self.offer("confirm", self.t("choice_confirm"), "primary")
        self.offer_cancel()

    def offer_orders(self, orders: list[Order], command: str = "close") -> None:
        """A button doing ``command`` on each of the first orders ("new or fix?", "which order?")."""
        for order in orders[:MAX_ORDER_BUTTONS]:
            label = self.t("choice_order", short=order.id[-5:], what=order.alarm_type)
            self.offer(choices.order_choice(command, order.id), label)

    def repeat_offer(self) -> None:
        """Ask the open question again, with the same buttons (they stay valid)."""
        offer = self.session.offer
        if offer:
            self.replies.append(offer["text"])
            self.keep_buttons()

    def keep_buttons(self) -> None:
        """Carry the open question's buttons on this turn's reply (a help text about that question)."""
        offer = self.session.offer
        if offer:
            self.offered = [(what, label, style) for what, label, style in offer["choices"]]

    def fail(self, kind: str, name: str, **values: object) -> None:
        """Tell the user about a failed service in one sentence, and count it."""
        self.errors.append(kind)
        self.say(name, **values)

    def refuse(self, kind: str, name: str, **values: object) -> Refused:
        """``raise ctx.refuse(…)``: tell the user about a failed service, count it, leave the state as it was."""
        self.fail(kind, name, **values)
        return Refused(name)

    @staticmethod
    def refused() -> Refused:
        """``raise ctx.refused()`` after saying why: the state stays as it was."""
        return Refused()

    # -- who and when --------------------------------------------------------------------------------
    def reporter(self) -> Reporter:
        i = self.incoming
        return Reporter(i.platform, i.tenant, i.user)

    def order_lines(self, orders: list[Order], *, numbered: bool = False) -> str:
        """One line per order (id · type · place · reported at). ``numbered`` puts "1. " in front and remembers
        the list, so "结单 2" or "查工单 2" next names its second order."""
        if numbered:
            self.session.listed = [order.id for order in orders]
        return "\n".join(
            (f"{n}. " if numbered else "")
            + " · ".join(part for part in (o.id, o.alarm_type, self.place(o), self.when(o.created_at)) if part)
            for n, o in enumerate(orders, 1)
        )

    def place(self, order: Order) -> str:
        """Where an order is, as people read it: its registry site's name, else its place, else its coordinates,
        else ""."""
        if order.site is not None:
            return order.site.name
        return Location(order.location_text, order.latitude, order.longitude).describe()

    def ago(self, moment: datetime) -> str:
        """How long ago, as people say it: "刚刚" / "just now", "12 分钟前", "3 小时前"."""
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return ago(self.lang, (datetime.now(UTC) - moment).total_seconds())

    def when(self, moment: datetime) -> str:
        """A time as users read it: in ``TIMEZONE`` (stored times are UTC)."""
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(self.settings.zone).strftime("%Y-%m-%d %H:%M")
