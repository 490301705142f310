"""The ports of a turn's storage: ``Sessions`` owns a turn's storage life, ``TurnStore`` is one turn's view of it.

The Redis adapter is ``bot.adapters.redis.sessions``; the dialogue engine uses them through ``bot.dialogue.services``.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from bot.session import Session


class TurnStore(Protocol):
    """One turn's storage, from ``Sessions.begin`` to the end of its ``with`` block: the user's turns run one at a
    time, in the order their messages arrived, and this one holds that turn until the block ends.

    Leaving the block without ``commit`` changes nothing (a turn that failed, group chatter not meant for the bot).
    """

    session: Session | None  # as stored; None when the user has none
    repeat: dict[str, Any] | None  # the stored result of this message when it was handled already ({}: and answered)

    def expired_flow(self) -> tuple[str, int] | None:
        """(state, seconds it waited for a reply) of the user's session if it expired mid-flow, told once
        (only asked when there is none)."""
        ...

    def photos_behind(self) -> bool:
        """Has another photo of this user arrived whose turn comes after this one (a burst still arriving)?"""
        ...

    def seconds_left(self) -> int | None:
        """Seconds the stored session has left, None when there is none."""
        ...

    def commit(self, session: Session, result: dict[str, Any] | None = None, *, ttl_seconds: int | None = None) -> None:
        """Save ``session`` (for ``ttl_seconds``, else the session TTL) and remember ``result`` (the turn's answer,
        JSON) for a repeat of this message; unless the turn answers before it ends (``Sessions.begin(…,
        answering=True)``), the turn ends here too."""
        ...

    def answer_once(self) -> bool:
        """This message was handled before a crash and its answer maybe never sent (``repeat`` is not ``{}``):
        mark it sent; True if this call did, so of two re-runs only one sends it."""
        ...

    def answered(self, remembered: bool = True) -> None:
        """The replies were sent: the remembered result shrinks to a marker (when ``remembered``), the turn ends."""
        ...


class Sessions(Protocol):
    """Where sessions live, and who owns a turn's storage life (lock, load, save, release, a repeat's answer)."""

    def begin(
        self, key: str, message_id: str | None = None, *, answering: bool = False, photo: bool = False
    ) -> AbstractContextManager[TurnStore]:
        """The turn of message ``message_id`` in session ``key``, once the user's earlier turns are done.
        ``answering``: its replies are sent before it ends (``TurnStore.answered`` ends it). ``photo``: the
        message is a photo (a photo turn before it can see it coming: ``TurnStore.photos_behind``)."""
        ...
