"""Observation port: the engine reports what happened; the edge decides how to count it.

``NullObserver`` is the default. ``handlers/metrics.py`` implements it with Prometheus.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from bot.ports import Order


class Observer(Protocol):
    def turn(self, platform: str, kind: str, seconds: float) -> None:
        """One turn finished (kind: text/image/location/other)."""

    def transition(self, source: str, dest: str) -> None:
        """The session moved between states (only when they differ)."""

    def error(self, kind: str) -> None:
        """Something failed that the user was told about (vlm, storage, orders, internal, image…)."""

    def vlm_call(self, kind: str, seconds: float, ok: bool) -> None:
        """One VLM call (analyze / verify_fixed)."""

    def nlu_call(self, seconds: float, outcome: str) -> None:
        """One reading of free text by the language model: outcome "read", "unsure" or "error"."""

    def stt_call(self, seconds: float, ok: bool) -> None:
        """One voice note sent to speech to text."""

    def escalation(self, order: Order) -> None:
        """An unclaimed order was posted again to its duty chat as overdue."""


class NullObserver:
    def turn(self, platform: str, kind: str, seconds: float) -> None:
        pass

    def transition(self, source: str, dest: str) -> None:
        pass

    def error(self, kind: str) -> None:
        pass

    def vlm_call(self, kind: str, seconds: float, ok: bool) -> None:
        pass

    def nlu_call(self, seconds: float, outcome: str) -> None:
        pass

    def stt_call(self, seconds: float, ok: bool) -> None:
        pass

    def escalation(self, order: Order) -> None:
        pass
