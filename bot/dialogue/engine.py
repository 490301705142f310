"""The dialogue: what each state does with each kind of message.

``Conversation.handle(incoming)`` is the engine's one entry point. In the user's turn (``Sessions.begin``:
their turns run one at a time, in arrival order) a ``bot.dialogue.turn.Turn`` moves the session through
``bot.dialogue.machine``, and the turn commits the session with its replies and result.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Protocol

import orjson

from bot.dialogue import choices
from bot.dialogue.context import TurnContext
from bot.dialogue.machine import CLOSE_PHOTO, IDLE, SharedMachine
from bot.dialogue.next_step import next_step
from bot.dialogue.services import FetchImage as FetchImage  # re-exported: the edge imports it, and Services, from here
from bot.dialogue.services import FetchVoice as FetchVoice
from bot.dialogue.services import Services as Services
from bot.dialogue.services import forget_photo
from bot.dialogue.turn import Turn
from bot.messages import Incoming, Reply, TurnResult
from bot.ports import ServiceError, StoreUnavailable
from bot.replies import say, span
from bot.session import Session
from bot.turn_storage import TurnStore

log = logging.getLogger(__name__)

# Sends a turn's replies to the user; given to ``handle``, it runs while the turn still holds the user's lock.
Deliver = Callable[[TurnResult], None]


class Engine(Protocol):
    """What the edge calls: one turn, and an ops reset."""

    def handle(
        self,
        incoming: Incoming,
        fetch_image: FetchImage | None = None,
        deliver: Deliver | None = None,
        fetch_voice: FetchVoice | None = None,
    ) -> TurnResult: ...

    def reset(self, skey: str) -> Session | None: ...


class Conversation(Engine):
    def __init__(self, services: Services) -> None:
        self.services = services
        self.settings = services.settings
        self.machine = SharedMachine()

    # -- entry points ------------------------------------------------------------------------------------
    def handle(
        self,
        incoming: Incoming,
        fetch_image: FetchImage | None = None,
        deliver: Deliver | None = None,
        fetch_voice: FetchVoice | None = None,
    ) -> TurnResult:
        """Run one turn for one message. Raises StoreUnavailable when Redis is down (the edge answers 503).

        ``fetch_image`` downloads the photo of a platform message (``fetch_voice`` its voice note); it runs
        under the user's lock so a slow download cannot let the user's next message overtake the photo.
        ``deliver`` sends the turn's replies, under the lock too, so the answers to messages sent in a burst
        reach the user in the order the messages were sent (its result is then ``delivered``; a repeat's stored
        answer only if it was never sent).
        """
        skey = incoming.session_key
        photo = incoming.kind == "image"
        with self.services.sessions.begin(
            skey, incoming.event_id, answering=deliver is not None, photo=photo
        ) as stored:
            if stored.repeat is not None:
                repeated = TurnResult.from_json(stored.repeat, duplicate=True)
                # A re-run of a turn taken over after a crash: its answer is sent unless it was.
                if deliver is not None and stored.repeat and stored.answer_once():
                    deliver(repeated)
                    repeated = replace(repeated, delivered=True)
                return repeated
            if not incoming.addressed and not _flow_open(stored.session):
                # Group chatter: the bot never talks unless spoken to (nothing fetched, nothing saved).
                return TurnResult([], stored.session.state if stored.session else IDLE, skey)
            if fetch_image is not None:
                images, problem = fetch_image()
                incoming = replace(
                    incoming,
                    image=images[0] if images else None,
                    more_images=tuple(images[1:]),
                    image_problem=problem,
                )
            if fetch_voice is not None:
                audio, problem = fetch_voice()
                incoming = replace(incoming, voice=audio, voice_problem=problem)
            result = self._turn(incoming, stored)
            if deliver is not None:
                deliver(result)
                stored.answered(remembered=result.saved)
                result = replace(result, delivered=True)
            return result

    def reset(self, skey: str) -> Session | None:
        """Ops reset: back to idle, pending cleared, history kept, time left kept if longer. None if no session."""
        with self.services.sessions.begin(skey) as stored:
            session = stored.session
            if session is None:
                return None
            left = stored.seconds_left() or 0
            report_photo = session.pending.get("image_key")
            voices = list(session.pending.get("voice_keys") or [])  # a report's voice notes no order will hold
            was = session.state if session.state != IDLE or report_photo else None
            session.state = self.machine.fire(_Bare(session), session.state, "reset")
            if was:  # the user's next message hears why their report (or close) is gone
                session.reset_from = was
            session.offer = None  # its buttons answer "no longer open"
            if report_photo:
                forget_photo(session, report_photo)
            # Keep an ops extension: the longer of the time left and a fresh session's TTL.
            stored.commit(session, ttl_seconds=max(left, self.settings.session_ttl_seconds))
            self._delete_photos(([report_photo] if report_photo else []) + voices, skey)
            return session

    def _delete_photos(self, keys: list[str], skey: str) -> None:
        """Delete report photos no order will hold, after the session that named them is saved without them.

        Best effort: a photo left behind costs storage, never a turn.
        """
        for key in keys:
            try:
                self.services.storage.delete(key)
            except (KeyError, ServiceError) as exc:
                log.warning("could not delete a replaced report photo: %s", exc, extra={"session": skey})

    # -- one turn ----------------------------------------------------------------------------------------
    def _turn(self, incoming: Incoming, stored: TurnStore) -> TurnResult:
        """The turn itself, committed to ``stored`` (an error leaves it uncommitted: nothing changes)."""
        session = stored.session
        observer = self.services.observer
        started = time.perf_counter()
        skey = incoming.session_key
        notices: list[str] = []
        if session is None:
            session = Session(key=skey, chat=incoming.chat if incoming.group else "")
            expired = stored.expired_flow()
            if expired and expired[0] != IDLE:
                notices.append(self._ended("timed_out", *expired))
        elif session.reset_from:
            notices.append(self._ended("reset_notice", session.reset_from, 0))
            session.reset_from = ""
        situation = (session.state, _fingerprint(session.pending))
        if incoming.group and not _flow_open(session):
            session.thread = incoming.thread  # a flow starts here: its answers go to this message's thread
        # One analysis per burst: a photo with more of the user's photos queued behind it leaves the analysis to them.
        coming = incoming.kind == "image" and self._analyses_bursts() and stored.photos_behind()
        turn = TurnContext(self.services, session, incoming, more_photos_coming=coming)  # its replies, its result
        try:
            Turn(turn).run(self.machine)
        except StoreUnavailable:
            raise
        except Exception:
            # A bug must not reach the user as a stack trace, nor half-change the session: nothing is saved.
            log.exception("turn failed", extra={"session": skey, "event_id": incoming.event_id})
            observer.error("internal")
            text = say(self.settings.language, "internal_error")
            # Nor is the result remembered: a re-run (a take-over after a crash, a generic client's retry) is real.
            return TurnResult([Reply(text)], session.state, skey)
        replies = [*notices, *turn.replies]
        max_turns = self.settings.history_max_turns
        session.add_turn("user", **turn.user_entry, max_turns=max_turns)
        for text in replies:
            session.add_turn("bot", text, max_turns=max_turns)
        session.turns += 1
        unchanged = situation == (session.state, _fingerprint(session.pending))
        result = TurnResult(
            self._with_buttons(session, replies, turn, still_open=unchanged),
            session.state,
            skey,
            order_id=turn.order_id,
            picked=turn.picked,
            card=turn.card,
            stale=turn.stale,
            thread=session.thread if incoming.group else "",
            saved=True,
            waiting_for=next_step(session.state, session.pending),
        )
        stored.commit(session, result.to_json() if incoming.event_id else None)
        self._delete_photos(turn.discarded, skey)
        if turn.state_before != session.state:
            observer.transition(turn.state_before, session.state)
        for kind in turn.errors:
            observer.error(kind)
        observer.turn(incoming.platform, incoming.kind, time.perf_counter() - started)
        return result

    @staticmethod
    def _with_buttons(session: Session, texts: list[str], turn: TurnContext, *, still_open: bool) -> list[Reply]:
        """The replies, the last one carrying the buttons of the question the turn asked.

        That question becomes the session's open offer; a turn that asked none leaves the offer open
        while the session is as it was (help, a look-up) and closes it when the session moved on.
        """
        replies = [Reply(text) for text in texts]
        if turn.offered:
            current = session.offer if still_open else None
            session.offer = choices.settle_offer(current, "\n\n".join(texts), turn.offered)
            replies[-1] = Reply(replies[-1].text, choices.choices_of(session.offer))
        elif not still_open:
            session.offer = None
        return replies

    def _analyses_bursts(self) -> bool:
        return self.services.vlm is not None and self.settings.photo_burst_seconds > 0

    def _ended(self, name: str, state: str, waited: int) -> str:
        """Why the flow the user was in is gone: it timed out after ``waited`` seconds, or ops reset it."""
        lang = self.settings.language
        flow = say(lang, "flow_close" if state == CLOSE_PHOTO else "flow_report")
        return say(lang, name, flow=flow, span=span(lang, waited))


def _fingerprint(pending: dict[str, Any]) -> bytes:
    """The pending fields as canonical JSON: equal before and after a turn when it changed none of them."""
    return orjson.dumps(pending, option=orjson.OPT_SORT_KEYS)


def _flow_open(session: Session | None) -> bool:
    """Is the user in the middle of something (a report, a close, photos held for a question)? In a group,
    only then does a message without a mention reach the bot."""
    return session is not None and (session.state != IDLE or bool(session.pending.get("image_key")))


class _Bare:
    """A model for machine moves that need no conversation (ops reset)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def forget_pending(self) -> None:
        self._session.clear_pending()
