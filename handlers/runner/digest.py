"""The digest's clock: a thread in every serving process that, once the period is due (``bot.reports.digest.due``),
posts each ``DIGEST_ROUTES`` chat its digest — the figures beside the period before, the orders breaching now,
and a chart of the last 7 days as a PNG — exactly once per period across all processes.

One Redis key per period and address (``{p}:digest:<route>:<address>:<first day>``) says where it stands:
``sending`` (a lease of a few minutes, taken with ``SET NX``: one process posts), then ``sent`` or ``skipped``
(nothing happened in the period) for the period's length and a day; a platform that fails for now leaves
``retry`` for a minute, and another round tries again; one that refuses for good leaves ``failed`` (logged).
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import redis

from bot.adapters.sql.reports import SqlReportFacts
from bot.ports import ServiceError
from bot.replies import say
from bot.reports import digest
from bot.reports.figures import Period
from bot.reports.service import Reports
from handlers.platforms import digest_post
from handlers.platforms.outbound import SendFailed

if TYPE_CHECKING:
    from handlers.runner.runtime import Runtime

log = logging.getLogger(__name__)

CHECK_EVERY_SECONDS = 30.0
LEASE_MS = 5 * 60 * 1000  # a process posting a digest; longer than any platform's slowest answer
RETRY_MS = 60 * 1000


def post_due(runtime: Runtime, now: datetime | None = None) -> dict[str, str]:
    """Post every digest due at ``now`` that no process has posted; what became of each (route/address → state)."""
    settings = runtime.settings
    now = now or datetime.now(UTC)
    period = digest.due(settings, now)
    if period is None:
        return {}
    engine = getattr(runtime.services.orders, "engine", None)
    if engine is None:
        return {}
    reports = Reports(settings, SqlReportFacts(engine), clock=lambda: now)
    store, outcomes = runtime.store, {}
    for route in digest.routes(settings):
        module = runtime.platforms.get(route.platform)
        if module is None or not module.enabled(settings) or route.platform not in digest_post.POSTS:
            continue
        made: dict[str, Any] = {}
        for address in route.target.addresses():
            key = store.key("digest", route.name, address, period.first.isoformat())
            if not store.redis.set(key, b"sending", nx=True, px=LEASE_MS):
                continue
            state = _post_one(runtime, reports, route, period, address, made)
            keep = RETRY_MS if state == "retry" else int((period.end - period.start + timedelta(days=1)) / _MS)
            store.redis.set(key, state.encode(), px=keep)
            outcomes[f"{route.name}/{address}"] = state
    return outcomes


_MS = timedelta(milliseconds=1)


def _post_one(
    runtime: Runtime, reports: Reports, route: digest.DigestRoute, period: Period, address: str, made: dict[str, Any]
) -> str:
    """Post one address its digest; what became of it. Any error stays with this address: the others are still
    posted and its key never stays ``sending``."""
    settings, lang = runtime.settings, runtime.settings.language
    try:
        if "report" not in made:
            made["report"] = reports.report(period, route.filters)
        report = made["report"]
        if digest.quiet(report):
            return "skipped"
        if "text" not in made:
            before = reports.report(period.before(), route.filters)
            made["text"] = digest.text(lang, settings.digest_every, route, report, before)
        if "png" not in made:
            made["png"] = _chart(reports, route, period, report, lang)
        key = f"{route.name}|{period.first}"
        digest_post.post(runtime, route.platform, address, say(lang, "digest_chart"), made["text"], made["png"], key)
    except SendFailed as exc:
        log.warning("digest to %s %s: %s", route.name, address, exc.attempt.detail)
        return "retry" if exc.attempt.retry else "failed"
    except ServiceError as exc:  # the database down: try again shortly
        log.warning("digest to %s %s: %s", route.name, address, exc)
        return "retry"
    except Exception as exc:  # a bug or a library's surprise: not posted again (it may have been in part)
        log.error("digest to %s %s failed: %s", route.name, address, type(exc).__name__)
        log.debug("digest to %s %s", route.name, address, exc_info=True)
        return "failed"
    log.info("digest of %s posted to %s %s", period.first, route.name, address)
    return "sent"


def _chart(reports: Reports, route: digest.DigestRoute, period: Period, report: dict[str, Any], lang: str) -> bytes:
    """The last 7 days as a PNG; empty when it cannot be drawn (cairo missing or failing): the text goes alone."""
    week = Period.last_days(period.last, period.zone)
    shown = report if week == period else reports.report(week, route.filters)  # ServiceError: the caller's
    try:
        from handlers import charts  # pygal and cairo: loaded by the process that draws, when it draws

        title = say(lang, "digest_chart")
        labels = (say(lang, "digest_created"), say(lang, "digest_resolved"))
        return charts.png(charts.volume(shown, title, labels))
    except Exception as exc:  # cairosvg raises OSError, ValueError and its own: the text still goes
        log.warning("digest chart for %s not drawn (%s): the text goes alone", route.name, type(exc).__name__)
        return b""


class DigestClock:
    """Looks every ``CHECK_EVERY_SECONDS`` for a digest due (``post_due``); started with the courier."""

    def __init__(self, runtime: Runtime, every: float = CHECK_EVERY_SECONDS) -> None:
        self.runtime, self.every = runtime, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="wobot-digest", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                post_due(self.runtime)
            except (redis.RedisError, ServiceError) as exc:
                log.warning("digest: %s; trying again shortly", exc)
            except Exception:  # the clock must outlive any one bad round
                log.exception("digest round failed")
            self._stop.wait(self.every)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
