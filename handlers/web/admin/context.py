"""What the admin routes and commands of one app share, kept in ``app.extensions["wobot_admin"]``."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

from flask import current_app
from itsdangerous import URLSafeTimedSerializer

from bot.ops import Invalid, Ops
from bot.sites.admin import SiteOps
from handlers.web.admin.thumbs import Thumbnails


@dataclass
class AdminContext:
    ops: Ops
    tokens: dict[str, str]  # audit name → secret; empty: API and page off
    admin_token: str = field(repr=False)  # the raw setting: the page's cookie key is derived from it
    thumbs: Thumbnails = field(default_factory=Thumbnails)
    sites: SiteOps | None = None  # None: the orders are not kept in SQL, so there is no registry

    def __post_init__(self) -> None:
        # Derived once: changing ADMIN_TOKEN (a restart) signs everybody out.
        key = hmac.new(self.admin_token.encode(), b"wobot admin page cookie v1", hashlib.sha256).digest()
        self.cookie_signer = URLSafeTimedSerializer(key, salt="wobot-admin")


def admin() -> AdminContext:
    """The current app's admin context (inside a request or a CLI command)."""
    ctx: AdminContext = current_app.extensions["wobot_admin"]
    return ctx


def ops() -> Ops:
    return admin().ops


def sites() -> SiteOps:
    found = admin().sites
    if found is None:
        raise Invalid("no site registry: the work orders are not kept in a SQL database")
    return found
