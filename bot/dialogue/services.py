"""What the engine and a turn's flows both use: the ports (``Services``), ``FetchImage``, ``forget_photo``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.config import Settings
from bot.observe import NullObserver, Observer
from bot.orders.events import Events, NoEvents
from bot.ports import Nlu, ObjectStore, ServiceError, Stt, Tenant, Vlm, WorkOrders
from bot.session import Session
from bot.sites.model import Site, SiteRegistry
from bot.turn_storage import Sessions

log = logging.getLogger(__name__)

# Downloads a platform message's photos: (the photos downloaded, the problem of one that was not, or None),
# a problem being "too_large", "not_image", "download_failed"…
FetchImage = Callable[[], tuple[list[bytes], str | None]]
# Downloads a platform message's voice note: (its bytes or None, the problem: "too_large", "download_failed").
FetchVoice = Callable[[], tuple[bytes | None, str | None]]


@dataclass
class Services:
    """The ports one turn may use."""

    settings: Settings
    sessions: Sessions
    storage: ObjectStore
    orders: WorkOrders
    vlm: Vlm | None
    observer: Observer = field(default_factory=NullObserver)
    events: Events = field(default_factory=NoEvents)  # order events for the duty chat and other systems
    nlu: Nlu | None = None  # reads free text the keyword rules cannot place; None: the bot asks instead
    stt: Stt | None = None  # hears voice notes; None: the bot asks the user to type
    sites: SiteRegistry | None = None  # the tenants' site registries (bot.sites); None: places stay as typed


def tenant_sites(services: Services, home: Tenant, skey: str) -> list[Site]:
    """The tenant's sites (the registry caches them, an empty list too: a tenant without sites costs no query);
    none without a registry or while the database is down (places stay as typed)."""
    if services.sites is None:
        return []
    try:
        return services.sites.all(home)
    except ServiceError as exc:
        log.warning("site registry unavailable: %s", exc, extra={"session": skey})
        return []


def forget_photo(session: Session, key: str) -> None:
    """Drop a deleted photo's key from the history (the admin page then shows "[image]", not a broken link)."""
    for entry in session.history:
        if entry.get("image_key") == key:
            del entry["image_key"]
        more = entry.get("more_image_keys")
        if isinstance(more, list) and key in more:
            more.remove(key)
