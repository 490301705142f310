"""Ops edge: the JSON API under ``/admin/api``, the page under ``/admin``, and the ops CLI commands.

Off by default: with ``ADMIN_TOKEN`` empty no admin route exists (404). The CLI
(``flask --app wsgi sessions …``) is always there: it runs on the box, as "cli".

The operations live in ``bot.ops``; the modules here translate HTTP and the command line
to them and back. ``register`` puts one ``AdminContext`` in ``app.extensions["wobot_admin"]``;
the module-level blueprints and click groups read it from ``current_app``.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask

from bot.ops import Ops
from bot.session_admin import split_key
from bot.sites.admin import SiteOps
from handlers.metrics import known_platforms
from handlers.runner.runtime import Runtime
from handlers.web.admin import api, cli, page, reports_page, sites_cli  # reports_page: its routes join page.bp
from handlers.web.admin import sites_api as _sites_api  # noqa: F401  (its routes join api.bp)
from handlers.web.admin import sites_page as _sites_page  # noqa: F401  (its routes join page.bp)
from handlers.web.admin.context import AdminContext


def platform_notifier(runtime: Runtime) -> Callable[[str, str], bool]:
    """``notify(session_key, text) -> delivered`` through the user's platform.

    Platforms without a push channel (generic webhook, console) or not configured answer
    False: the API then says ``notified: false``.
    """

    def notify(skey: str, text: str) -> bool:
        platform, tenant, user = split_key(skey)
        module = runtime.platforms.get(platform)
        if module is None or not module.enabled(runtime.settings):
            return False
        return bool(module.notify(runtime, tenant, user, text))

    return notify


def build_ops(runtime: Runtime) -> Ops:
    """The app's one ``Ops``. With the page on, photos without a store URL link to its authenticated route."""
    page_on = bool(runtime.settings.admin_tokens)
    return Ops(
        runtime.settings,
        runtime.store,
        runtime.engine,
        runtime.services.orders,
        runtime.services.storage,
        platforms=known_platforms(runtime),
        notify=platform_notifier(runtime),
        image_link=(lambda key: f"/admin/images/{key}") if page_on else None,
        events=runtime.services.events,
    )


def register(app: Flask, runtime: Runtime, ops: Ops) -> str:
    """Register the ops CLI, and the API and page when ``ADMIN_TOKEN`` is set; say which, for the start-up line."""
    tokens = runtime.settings.admin_tokens
    registry = runtime.services.sites
    app.extensions["wobot_admin"] = AdminContext(
        ops, tokens, runtime.settings.admin_token, sites=SiteOps(registry, ops.audit) if registry else None
    )
    cli.register(app)
    sites_cli.register(app)
    if not tokens:
        return "admin API and page: off (ADMIN_TOKEN is not set)"
    app.register_blueprint(api.bp)
    assert reports_page.bp is page.bp
    app.register_blueprint(page.bp)
    return f"admin API at /admin/api and page at /admin (tokens: {', '.join(sorted(tokens))})"
