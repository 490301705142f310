"""A duty card's photos as the platforms show them: links (Slack image blocks) or bytes to upload
(Feishu ``im/v1/images``, WeCom ``media/upload``)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot.ports import ServiceError
from handlers.platforms.outbound import SendFailed, retry

if TYPE_CHECKING:
    from bot.orders.duty_card import DutyCard
    from handlers.platforms.base import PlatformContext

log = logging.getLogger(__name__)


def duty_photo_links(runtime: PlatformContext, card: DutyCard, seconds: int = 7 * 24 * 3600) -> list[str]:
    """Links to a duty card's photos for platforms that show an image by its URL (none from a local folder)."""
    links: list[str] = []
    for key in card.photo_keys:
        try:
            url = runtime.services.storage.url(key, seconds)
        except Exception as exc:  # a missing picture must not keep the card from the duty chat
            log.warning("no link to a duty card photo: %s", type(exc).__name__)
            url = None
        if url:
            links.append(url)
    return links


def duty_photos(runtime: PlatformContext, card: DutyCard, limit: int) -> list[bytes]:
    """The first ``limit`` photos of a duty card, for platforms that upload them. A photo gone from storage
    is left out (logged); storage down is a failure worth trying later (``SendFailed``)."""
    photos: list[bytes] = []
    for key in card.photo_keys[:limit]:
        try:
            photos.append(runtime.services.storage.get(key))
        except KeyError:
            log.warning("a duty card photo is missing from storage; the card goes without it")
        except ServiceError as exc:
            raise SendFailed(retry(f"storage: {exc}")) from exc
    return photos
