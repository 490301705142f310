"""The dialogue: what each state does with each kind of message.

``Conversation.handle(incoming)`` is the engine's one entry point. Under the user's
lock it loads the session, routes the input through ``bot.machine`` and saves the
session; the per-turn ``Turn`` object carries the machine's callbacks (named in
the transition table) and collects the replies.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from bot import intents
from bot.config import Settings
from bot.images import ImageRejected, check_image, same_picture, sniff_image_type
from bot.machine import IDLE, SharedMachine, route
from bot.messages import Incoming, Reply, TurnResult
from bot.observe import NullObserver, Observer
from bot.ports import (
    Analysis,
    NewOrder,
    ObjectStore,
    Order,
    OrderError,
    Photo,
    Reporter,
    ServiceError,
    StoreUnavailable,
    Vlm,
    VlmError,
    WorkOrders,
)
from bot.replies import say
from bot.session import Session
from bot.store import SessionStore, Ticket

log = logging.getLogger(__name__)

# Downloads a platform photo: (bytes, None) or (None, problem) with problem "too_large"/"download_failed"…
FetchImage = Callable[[], tuple[bytes | None, str | None]]

_REPORT_FIELDS = ("image_key", "image_type", "alarm_type", "description", "severity", "confidence", "analysis_failed")


class Engine(Protocol):
    """What the edge calls: one turn, and an ops reset."""

    def handle(self, incoming: Incoming, fetch_image: FetchImage | None = None) -> TurnResult: ...

    def reset(self, skey: str) -> Session | None: ...


@dataclass
class Services:
    """The ports one turn may use."""

    settings: Settings
    store: SessionStore
    storage: ObjectStore
    orders: WorkOrders
    vlm: Vlm | None
    observer: Observer = field(default_factory=NullObserver)


class Conversation(Engine):
    def __init__(self, services: Services) -> None:
        self.services = services
        self.settings = services.settings
        self.machine = SharedMachine()

    # -- entry points ------------------------------------------------------------------------------------
    def handle(self, incoming: Incoming, fetch_image: FetchImage | None = None) -> TurnResult:
        """Run one turn for one message. Raises StoreUnavailable when Redis is down (the edge answers 503).

        ``fetch_image`` downloads the photo of a platform message; it runs under the user's lock so
        a slow download cannot let the user's next message overtake the photo.
        """
        store = self.services.store
        skey = incoming.session_key
        with store.lock(skey) as ticket:
            seen, session = store.open_turn(skey, incoming.event_id)
            if seen is not None:
                return TurnResult.from_json(seen, duplicate=True)
            if fetch_image is not None:
                image, problem = fetch_image()
                incoming = replace(incoming, image=image, image_problem=problem)
            return self._turn(incoming, session, ticket)

    def reset(self, skey: str) -> Session | None:
        """Ops reset: back to idle, pending cleared, history kept. None if there is no session."""
        store = self.services.store
        with store.lock(skey):
            session = store.load(skey)
            if session is None:
                return None
            session.state = self.machine.fire(_Bare(session), session.state, "reset")
            store.save(session)
            return session

    # -- one turn ----------------------------------------------------------------------------------------
    def _turn(self, incoming: Incoming, session: Session | None, ticket: Ticket) -> TurnResult:
        store = self.services.store
        observer = self.services.observer
        started = time.perf_counter()
        skey = incoming.session_key
        notices: list[str] = []
        if session is None:
            session = Session(key=skey)
            expired = store.expired_flow(skey)
            if expired and expired != IDLE:
                notices.append(self._timed_out(expired))
        turn = Turn(self, session, incoming)
        try:
            turn.run()
        except StoreUnavailable:
            raise
        except Exception:
            # A bug must not reach the user as a stack trace, nor half-change the session: nothing is saved.
            log.exception("turn failed", extra={"session": skey, "event_id": incoming.event_id})
            observer.error("internal")
            text = say(self.settings.language, "internal_error")
            # Nor is the result remembered, so the platform's redelivery gets a real retry.
            return TurnResult([Reply(text)], session.state, skey)
        replies = [*notices, *turn.replies]
        max_turns = self.settings.history_max_turns
        session.add_turn("user", **turn.user_entry, max_turns=max_turns)
        for text in replies:
            session.add_turn("bot", text, max_turns=max_turns)
        session.turns += 1
        result = TurnResult([Reply(t) for t in replies], session.state, skey, order_id=turn.order_id)
        store.save(session, result=(incoming.event_id, result.to_json()) if incoming.event_id else None, ticket=ticket)
        if turn.state_before != session.state:
            observer.transition(turn.state_before, session.state)
        for kind in turn.errors:
            observer.error(kind)
        observer.turn(incoming.platform, incoming.kind, time.perf_counter() - started)
        return result

    def _timed_out(self, state: str) -> str:
        lang = self.settings.language
        flow = say(lang, "flow_close" if state == "waiting_close_photo" else "flow_report")
        return say(lang, "timed_out", flow=flow, minutes=max(1, self.settings.session_ttl_seconds // 60))


class _Bare:
    """A model for machine moves that need no conversation (ops reset)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def forget_pending(self) -> None:
        self._session.clear_pending()


class Turn:
    """One message's worth of work; the machine's callbacks are its methods."""

    def __init__(self, conversation: Conversation, session: Session, incoming: Incoming) -> None:
        self.c = conversation
        self.services = conversation.services
        self.settings = conversation.settings
        self.lang = self.settings.language
        self.session = session
        self.pending = session.pending
        self.incoming = incoming
        self.intent = intents.parse(incoming.text) if incoming.kind == "text" else intents.Intent(incoming.kind)
        self.replies: list[str] = []
        self.user_entry: dict[str, Any] = {"text": incoming.text, "kind": incoming.kind}
        if incoming.location:
            self.user_entry["location"] = incoming.location.describe()
        self.order_id: str | None = None
        self.errors: list[str] = []  # failures the user was told about, for the observer
        self.state_before = session.state
        # outcomes the transition table's conditions read
        self._photo_taken = False
        self._type_taken = False
        self._order: Order | None = None
        self._closed: Order | None = None
        self._abandon = False

    def run(self) -> None:
        what = self.incoming.kind if self.incoming.kind != "text" else self.intent.name
        action = route(self.session.state, what)
        if action.startswith("say_"):
            getattr(self, action)()
        else:
            self.session.state = self.c.machine.fire(self, self.session.state, action)

    def say(self, name: str, **values: object) -> None:
        self.replies.append(say(self.lang, name, **values))

    def fail(self, kind: str, name: str, **values: object) -> None:
        """Tell the user about a failed service in one sentence, and count it."""
        self.errors.append(kind)
        self.say(name, **values)

    def t(self, name: str, **values: object) -> str:
        return say(self.lang, name, **values)

    # -- conditions ------------------------------------------------------------------------------------
    def photo_taken(self) -> bool:
        return self._photo_taken

    def type_taken(self) -> bool:
        return self._type_taken

    def order_created(self) -> bool:
        return self._order is not None

    def order_closable(self) -> bool:
        return self._order is not None

    def order_closed(self) -> bool:
        return self._closed is not None

    def close_abandoned(self) -> bool:
        return self._abandon

    # -- report ----------------------------------------------------------------------------------------
    def take_report_photo(self) -> None:
        photo = self._accept_photo()
        if photo is None:
            return
        data, content_type = photo
        try:
            key = self.services.storage.put(data, content_type)
        except ServiceError:
            log.warning("photo storage failed", extra={"session": self.session.key})
            self.fail("storage", "storage_down")
            return
        if self.pending.get("image_key"):
            self.say("photo_replaced")
        for name in _REPORT_FIELDS:
            self.pending.pop(name, None)
        self.pending.update(image_key=key, image_type=content_type)
        self.user_entry["image_key"] = key
        self._analyse(Photo(data, content_type, self._photo_url(key)))
        self._photo_taken = True

    def analyse_again(self) -> None:
        key = self.pending.get("image_key")
        if not key:
            self.say("nothing_to_retry")
            return
        try:
            data = self.services.storage.get(key)
        except (KeyError, ServiceError):
            self.fail("storage", "storage_down")
            return
        self._analyse(Photo(data, self.pending.get("image_type", "image/jpeg"), self._photo_url(key)))
        self._photo_taken = True

    def _analyse(self, photo: Photo) -> None:
        vlm = self.services.vlm
        choices = self._choices()
        if vlm is None:
            self.pending["analysis_failed"] = "off"
            self.say("vlm_off", choices=choices)
            return
        try:
            analysis: Analysis = vlm.analyze(photo, self.settings.alarm_type_list, self.session.history)
        except VlmError as exc:
            log.warning("photo analysis failed: %s", exc, extra={"session": self.session.key})
            self.pending["analysis_failed"] = "error"
            self.fail("vlm", "vlm_failed", choices=choices)
            return
        self.pending.pop("analysis_failed", None)
        self.pending.update(
            alarm_type=analysis.alarm_type,
            description=analysis.description,
            severity=analysis.severity,
            confidence=analysis.confidence,
        )
        self.say(
            "analysis",
            alarm_type=analysis.alarm_type,
            severity=self.t(f"severity_{analysis.severity}"),
            description=analysis.description,
        )

    def ask_for_location(self) -> None:
        self.say("ask_location")

    def take_location(self) -> None:
        loc = self.incoming.location
        if loc is not None:
            self.pending["location"] = {"label": loc.label, "latitude": loc.latitude, "longitude": loc.longitude}
        else:
            self.pending["location"] = {"label": intents.normalise(self.incoming.text)[:500]}

    def take_type(self) -> None:
        chosen = self._resolve_type(self.intent.arg)
        if chosen is None:
            self.say("type_unknown", choices=self._choices())
            return
        self.pending["alarm_type"] = chosen
        self.pending.pop("analysis_failed", None)
        self.say("type_set", alarm_type=chosen)
        self._type_taken = True

    def show_summary(self) -> None:
        p = self.pending
        alarm = self.t("summary_alarm", alarm_id=p["alarm_id"]) if p.get("alarm_id") else ""
        self.say(
            "summary",
            alarm_type=p.get("alarm_type") or self.t("unknown"),
            severity=self.t(f"severity_{p['severity']}") if p.get("severity") else self.t("unknown"),
            description=p.get("description") or self.t("no_description"),
            location=_location_text(p.get("location")) or self.t("unknown"),
            alarm=alarm,
        )
        if not p.get("alarm_type"):
            self.say("need_type", choices=self._choices())

    def create_order(self) -> None:
        p = self.pending
        if not p.get("alarm_type"):
            self.say("need_type", choices=self._choices())
            return
        location = p.get("location") or {}
        incoming = self.incoming
        report_key = hashlib.sha256(f"{self.session.key}|{p['image_key']}".encode()).hexdigest()[:40]
        history = [*self.session.history, {"role": "user", "at": round(time.time(), 3), **self.user_entry}]
        new = NewOrder(
            report_key=report_key,
            reporter=Reporter(incoming.platform, incoming.tenant, incoming.user),
            alarm_type=p["alarm_type"],
            description=p.get("description") or "",
            severity=p.get("severity") or "medium",
            location_text=location.get("label") or "",
            latitude=location.get("latitude"),
            longitude=location.get("longitude"),
            report_photo_key=p["image_key"],
            alarm_id=p.get("alarm_id"),
            history=history,
        )
        try:
            self._order, _created = self.services.orders.create(new)
        except ServiceError:
            log.warning("work-order create failed", extra={"session": self.session.key})
            self.fail("orders", "orders_down")

    def announce_order(self) -> None:
        assert self._order is not None
        self.order_id = self._order.id
        self.session.clear_pending()
        self.say("order_created", order_id=self._order.id)

    def remember_alarm(self) -> None:
        self.pending["alarm_id"] = self.intent.arg
        self.say("alarm_linked" if self.session.state == IDLE else "alarm_linked_pending", alarm_id=self.intent.arg)

    # -- close -----------------------------------------------------------------------------------------
    def find_order_to_close(self) -> None:
        orders = self.services.orders
        order_id = self.intent.arg
        try:
            if not order_id:
                mine = orders.open_for(self._reporter())
                if len(mine) != 1:
                    if mine:
                        self.say("close_which", orders=self._order_lines(mine))
                    else:
                        self.say("close_which_none")
                    return
                order: Order | None = mine[0]
            else:
                order = orders.get(order_id)
        except ServiceError:
            self.fail("orders", "orders_down")
            return
        if order is None:
            self.say("order_not_found", order_id=order_id)
        elif order.status != "open":
            self.say("order_not_open", order_id=order.id, status=self.t(f"status_{order.status}"))
        else:
            self._order = order

    def ask_for_close_photo(self) -> None:
        assert self._order is not None
        self.pending["order_id"] = self._order.id
        self.say(
            "ask_close_photo",
            order_id=self._order.id,
            alarm_type=self._order.alarm_type,
            location=self._order.location_text or self.t("unknown"),
        )

    def check_fix(self) -> None:
        order_id = self.pending.get("order_id", "")
        services = self.services
        try:
            order = services.orders.get(order_id)
        except ServiceError:
            self.fail("orders", "orders_down")
            return
        if order is None or order.status != "open":
            status = self.t(f"status_{order.status}") if order else self.t("unknown")
            self.say("close_race", order_id=order_id, status=status)
            self._abandon = True
            return
        photo = self._accept_photo()
        if photo is None:
            return
        after, after_type = photo
        try:
            before = services.storage.get(order.report_photo_key)
        except (KeyError, ServiceError):
            self.fail("storage", "close_original_missing", order_id=order_id)
            return
        try:
            same = same_picture(before, after)
        except ImageRejected:  # the header looked like a photo but the bytes do not decode
            self.say("not_image")
            return
        if same:
            self.say("close_same_photo")
            return
        try:
            key = services.storage.put(after, after_type)
        except ServiceError:
            self.fail("storage", "storage_down")
            return
        self.user_entry["image_key"] = key
        resolved: bool | None = None
        reason = ""
        if services.vlm is not None:
            before_type = sniff_image_type(before) or "image/jpeg"
            before_photo = Photo(before, before_type, self._photo_url(order.report_photo_key))
            try:
                verdict = services.vlm.verify_fixed(
                    before_photo,
                    Photo(after, after_type, self._photo_url(key)),
                    order.description,
                    self.session.history,
                )
            except VlmError as exc:
                log.warning("close check failed: %s", exc, extra={"session": self.session.key})
                self.fail("vlm", "close_vlm_failed")
                return
            if not verdict.resolved:
                self.say("close_not_resolved", reason=verdict.reason)
                return
            resolved, reason = True, verdict.reason
        try:
            self._closed = services.orders.close(order.id, key, resolved, reason)  # type: ignore[arg-type]
        except OrderError:
            self.say("close_race", order_id=order.id, status=self.t("status_closed"))
            self._abandon = True
        except ServiceError:
            self.fail("orders", "orders_down")

    def announce_close(self) -> None:
        assert self._closed is not None
        self.order_id = self._closed.id
        self.session.clear_pending()
        if self._closed.vlm_resolved is None:
            self.say("close_unverified", order_id=self._closed.id)
        else:
            self.say("close_resolved", order_id=self._closed.id, reason=self._closed.vlm_reason or "")

    # -- anywhere --------------------------------------------------------------------------------------
    def drop_pending(self) -> None:
        had_something = self.state_before != IDLE or bool(self.pending)
        self.session.clear_pending()
        self.say("cancelled" if had_something else "nothing_to_cancel")

    def forget_pending(self) -> None:
        self.session.clear_pending()

    # -- reply-only responders (no state change) -------------------------------------------------------
    def say_help(self) -> None:
        state = self.session.state
        if state == "waiting_close_photo":
            self.say("help_waiting_close_photo", order_id=self.pending.get("order_id", ""))
        else:
            self.say(f"help_{state}")

    def say_status(self) -> None:
        p, state = self.pending, self.session.state
        if state == IDLE:
            alarm = self.t("status_alarm", alarm_id=p["alarm_id"]) if p.get("alarm_id") else ""
            self.say("status_idle", alarm=alarm)
        elif state == "waiting_location":
            self.say("status_waiting_location", alarm_type=p.get("alarm_type") or self.t("unknown"))
        elif state == "waiting_confirm":
            self.say("status_waiting_confirm")
            self.show_summary()
        else:
            self.say("status_waiting_close_photo", order_id=p.get("order_id", ""))

    def say_my_orders(self) -> None:
        try:
            mine = self.services.orders.open_for(self._reporter())
        except ServiceError:
            self.fail("orders", "orders_down")
            return
        if mine:
            self.say("my_orders", orders=self._order_lines(mine))
        else:
            self.say("my_orders_none")

    def say_order(self) -> None:
        try:
            order = self.services.orders.get(self.intent.arg)
        except ServiceError:
            self.fail("orders", "orders_down")
            return
        if order is None:
            self.say("order_not_found", order_id=self.intent.arg)
            return
        closed = ""
        if order.closed_at:
            closed = self.t(
                "order_closed_line",
                closed=_when(order.closed_at),
                reason=order.vlm_reason or order.cancel_reason or "-",
            )
        self.say(
            "order_status",
            order_id=order.id,
            status=self.t(f"status_{order.status}"),
            alarm_type=order.alarm_type,
            location=order.location_text or self.t("unknown"),
            created=_when(order.created_at),
            closed=closed,
        )

    def say_unsupported(self) -> None:
        self.say("unsupported_kind")

    def say_idle_hint(self) -> None:
        if (
            self.incoming.kind == "text"
            and self.intent.name in ("text", "number", "confirm", "retry")
            and (self.session.turns == 0)
        ):
            self.say("welcome")
        else:
            self.say("idle_text")

    def say_need_location(self) -> None:
        self.say("need_location")

    def say_finish_first(self) -> None:
        flow = "flow_close" if self.session.state == "waiting_close_photo" else "flow_report"
        self.say("finish_first", flow=self.t(flow))

    def say_expect_close_photo(self) -> None:
        self.say("expect_close_photo", order_id=self.pending.get("order_id", ""))

    # -- helpers ---------------------------------------------------------------------------------------
    def _accept_photo(self) -> tuple[bytes, str] | None:
        """The photo's bytes and type, or None after telling the user what is wrong with it."""
        incoming, limit = self.incoming, self.settings.max_image_bytes
        problem = incoming.image_problem
        content_type = ""
        if problem is None:
            try:
                content_type = check_image(incoming.image or b"", limit)
            except ImageRejected as exc:
                problem = exc.reason
        if problem is None:
            return incoming.image or b"", content_type
        self.errors.append(f"image_{problem}")
        if problem == "too_large":
            self.say("image_too_large", limit_mb=round(limit / 1024 / 1024, 1))
        elif problem in ("not_image", "empty"):
            self.say("not_image")
        else:
            self.say("download_failed")
        return None

    def _photo_url(self, key: str) -> str | None:
        if self.settings.vlm_image_mode != "url":
            return None
        try:
            return self.services.storage.url(key)
        except ServiceError:
            return None

    def _choices(self) -> str:
        return "\n".join(f"{i}. {name}" for i, name in enumerate(self.settings.alarm_type_list, 1))

    def _resolve_type(self, answer: str) -> str | None:
        types = self.settings.alarm_type_list
        answer = answer.strip()
        if answer.isdigit():
            index = int(answer)
            return types[index - 1] if 1 <= index <= len(types) else None
        lowered = answer.lower()
        exact = [t for t in types if t.lower() == lowered]
        partial = [t for t in types if lowered and (lowered in t.lower() or t.lower() in lowered)]
        if exact:
            return exact[0]
        return partial[0] if len(partial) == 1 else None

    def _reporter(self) -> Reporter:
        i = self.incoming
        return Reporter(i.platform, i.tenant, i.user)

    def _order_lines(self, orders: list[Order]) -> str:
        return "\n".join(
            self.t("order_line", order_id=o.id, alarm_type=o.alarm_type, location=o.location_text or "-")
            for o in orders
        )


def _location_text(location: dict | None) -> str:
    if not location:
        return ""
    label = location.get("label") or ""
    lat, lng = location.get("latitude"), location.get("longitude")
    if lat is None or lng is None:
        return label
    coords = f"{lat:.6f},{lng:.6f}"
    return f"{label} ({coords})" if label else coords


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")
