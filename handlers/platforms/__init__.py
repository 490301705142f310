"""The messenger platforms, one module each, listed once in ``PLATFORMS``.

A platform module only translates. ``parse`` turns a webhook request into a handshake, an
ignored event or a job (pure: no Flask, no I/O). ``sender`` answers a turn through the
platform's API. ``fetch_image`` downloads a message's photo under the user's lock.
``notify`` reaches a user outside a turn (ops resets, claims). ``post_card`` and ``update_card`` show an
order in its duty chat (``handlers.duty``). ``photo_arrived`` acknowledges a photo
at once; ``close_card`` redraws a tapped card once its turn has run. Senders render a turn's
replies as one message, its ``Choice``s as the platform's own buttons. The Flask route, the ack and the
background turn are written once, in ``handlers.platforms.edge``.

``PlatformModule`` states that shape, so a type checker holds every platform to it. A new
platform is one new module here and one line in ``PLATFORMS``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from handlers.platforms import feishu, slack, wecom

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.conversation import FetchImage
    from bot.duty_card import DutyCard
    from bot.messages import Sender, TurnResult
    from handlers.platforms.edge import Ack, Outcome, WebhookRequest
    from handlers.runtime import Runtime


class PlatformModule(Protocol):
    PLATFORM: str  # the first part of its session keys and its route: /webhook/<PLATFORM>
    METHODS: tuple[str, ...]  # HTTP methods its route answers
    ACK: Ack  # the body a processed callback is answered with

    def enabled(self, settings: Settings) -> bool:
        """Are its settings complete? Off platforms have no route (404)."""
        ...

    def parse(self, settings: Settings, request: WebhookRequest) -> Outcome:
        """verify → handshake → decrypt → drop non-user events → job; raises ``Rejected``."""
        ...

    def sender(self, runtime: Runtime) -> Sender:
        """The Sender that answers a turn through the platform's API."""
        ...

    def fetch_image(self, runtime: Runtime, job: dict[str, Any]) -> FetchImage:
        """Downloads the job's photo when called: (bytes, None) or (None, problem)."""
        ...

    def notify(self, runtime: Runtime, tenant: str, user: str, text: str) -> bool:
        """A message from ops outside any turn; True if delivered."""
        ...

    def photo_arrived(self, runtime: Runtime, job: dict[str, Any]) -> None:
        """Tell the user at once that their photo arrived and is being analysed (a reaction or a short text)."""
        ...

    def addressed(self, runtime: Runtime, job: dict[str, Any]) -> bool:
        """In a group: do the job's ``mentions`` include this app's bot? (Asked only when there are some.)"""
        ...

    def tell_tapper(self, runtime: Runtime, job: dict[str, Any]) -> None:
        """Tell only the tapper that the card they tapped was someone else's (a job with ``foreign_tap``)."""
        ...

    def close_card(self, runtime: Runtime, job: dict[str, Any], result: TurnResult) -> None:
        """Redraw the tapped card without its buttons: the choice taken (``result.picked``), or "no longer open"."""
        ...

    def post_card(self, runtime: Runtime, tenant: str, address: str, card: DutyCard) -> dict[str, Any]:
        """Post an order's duty card to ``address`` (``chat:<id>``, or on WeCom ``users:<id>|<id>``); return
        what ``update_card`` needs to redraw it. Raises ``outbound.SendFailed``."""
        ...

    def update_card(self, runtime: Runtime, ref: dict[str, Any], card: DutyCard) -> None:
        """Redraw a posted duty card as the order is now (claimed, closed…). Raises ``outbound.SendFailed``."""
        ...


def _registered(*modules: PlatformModule) -> dict[str, PlatformModule]:
    return {module.PLATFORM: module for module in modules}


PLATFORMS: dict[str, PlatformModule] = _registered(wecom, feishu, slack)
