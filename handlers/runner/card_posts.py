"""Posting an order's card to every address of its target once per event: the duty card
(``handlers/runner/duty.py``) and the resolution SLA's escalation card (``handlers/runner/sla_notices.py``).

Each posting is remembered in a Redis hash (``field``: ``<event id>/<address>``) before the next address is tried,
so a retry after a partial failure posts only what is missing, never a card twice.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from bot.orders.duty_card import DutyCard
from bot.orders.duty_routes import DutyTarget

if TYPE_CHECKING:
    from handlers.platforms.base import PlatformModule
    from handlers.runner.runtime import Runtime


def post_once(
    runtime: Runtime,
    module: PlatformModule,
    tenant: str,
    target: DutyTarget,
    card: DutyCard,
    *,
    key: str,
    event_id: str,
    ttl_seconds: int,
    mark: Mapping[str, Any] | None = None,
    then: Callable[[str, dict[str, Any]], None] | None = None,
) -> None:
    """Post ``card`` to each of ``target``'s addresses not yet posted for this event (the hash ``key``). With
    ``mark``, the stored ref also holds its address and ``mark``; ``then(address, ref)`` runs once it is stored.
    Raises ``SendFailed``."""
    redis = runtime.store.redis
    for address in target.addresses():
        field = f"{event_id}/{address}"
        if redis.hexists(key, field):
            continue  # posted by an earlier try of this event
        ref = module.post_card(runtime, tenant, address, card)
        if mark is not None:
            ref.update(address=address, **mark)
        redis.hset(key, field, json.dumps(ref, ensure_ascii=False))
        if then is not None:
            then(address, ref)
        redis.expire(key, ttl_seconds)
