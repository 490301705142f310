"""The digest: the period's figures beside the period before, posted into chats (``DIGEST_ROUTES``) once per period.

Which period is due (``due``), where it goes and for which orders (``routes``: a ``DUTY_ROUTES``-style entry names
a platform, a tenant or ``*``, and optionally an alarm type, ``site:<id>`` or ``zone:<name>`` — the digest counts
those orders), whether there is anything to say (``quiet``), and the message (``text``). Posting is the edge's
(``handlers/runner/digest.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from bot.config import Settings
from bot.orders.duty_routes import ANY_TENANT, SITE, ZONE, DutyTarget
from bot.replies import say
from bot.reports.figures import Filters, Period

BREACHING_NAMED = 5  # orders breaching now named in the message; the rest counted


@dataclass(frozen=True)
class DigestRoute:
    platform: str
    tenant: str  # or "*": every tenant of the platform
    alarm_type: str  # "" for every type
    target: DutyTarget

    @property
    def filters(self) -> Filters:
        """The route's orders: its platform and tenant, and its alarm type, or the registry site or zone an entry
        names as ``site:<id>`` / ``zone:<name>`` (as ``DUTY_ROUTES`` reads them)."""
        tenant = "" if self.tenant == ANY_TENANT else self.tenant
        where = self.alarm_type
        site = where.removeprefix(SITE) if where.startswith(SITE) else ""
        zone = where.removeprefix(ZONE) if where.startswith(ZONE) else ""
        kind = "" if where.startswith((SITE, ZONE)) else where
        return Filters(platform=self.platform, tenant=tenant, site=site.strip(), zone=zone.strip(), type=kind)

    @property
    def name(self) -> str:
        return ":".join(part for part in (self.platform, self.tenant, self.alarm_type) if part)


def routes(settings: Settings) -> list[DigestRoute]:
    return [DigestRoute(p, t, a, target) for (p, t, a), target in sorted(settings.digest.routes.items())]


def due(settings: Settings, now: datetime) -> Period | None:
    """The period whose digest is due at ``now``: yesterday from ``DIGEST_AT`` today on (``DIGEST_EVERY=day``),
    or last Monday–Sunday from ``DIGEST_AT`` on Monday on (``week``); None before the first of those moments."""
    zone = settings.zone
    local = now.astimezone(zone)
    hour, minute = settings.digest_time
    if settings.digest_every == "week":
        monday = local.date() - timedelta(days=local.weekday())
        period = Period(monday - timedelta(days=7), monday - timedelta(days=1), zone)
        starts = datetime.combine(monday, time(hour, minute), zone)
    else:
        today = local.date()
        period = Period(today - timedelta(days=1), today - timedelta(days=1), zone)
        starts = datetime.combine(today, time(hour, minute), zone)
    return period if local >= starts else None


def quiet(report: dict[str, Any]) -> bool:
    """Nothing happened: no order created, claimed, fixed or closed in the period."""
    s = report["summary"]
    return not (s["created"] or s["claimed"] or s["resolved"] or s["closed"])


def span(lang: str, seconds: int | None) -> str:
    if seconds is None:
        return "—"
    minutes = seconds // 60
    if minutes < 60:
        return say(lang, "span_minutes", count=minutes)
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return say(lang, "span_hours", hours=hours, minutes=minutes)
    return say(lang, "span_days", days=hours // 24, hours=hours % 24)


def _percent(share: dict[str, Any]) -> str:
    return "—" if share["share"] is None else f"{share['share'] * 100:.0f}%"


def _days(period: Period) -> str:
    first, last = period.first.isoformat(), period.last.isoformat()
    return first if first == last else f"{first} – {last}"


def text(lang: str, every: str, route: DigestRoute, report: dict[str, Any], before: dict[str, Any]) -> str:
    """The digest's words: the period's figures, each with the period before's in brackets, and the orders
    breaching now with their ids."""
    period = _period_of(report)
    s, b = report["summary"], before["summary"]
    lines = [
        say(lang, "digest_title_week" if every == "week" else "digest_title_day", period=_days(period)),
        say(lang, "digest_before", period=_days(_period_of(before))),
    ]
    if route.tenant != ANY_TENANT or route.alarm_type:
        lines.append(say(lang, "digest_scope", value=" · ".join(filter(None, (route.tenant, route.alarm_type)))))
    lines += [
        say(
            lang,
            "digest_volume",
            **{f"{k}{suffix}": source[k] for k in ("created", "resolved", "closed") for suffix, source in _sides(s, b)},
        ),
        say(
            lang,
            "digest_times",
            claim=span(lang, s["time_to_claim"]["median"]),
            claim_before=span(lang, b["time_to_claim"]["median"]),
            fix=span(lang, s["time_to_fix"]["median"]),
            fix_before=span(lang, b["time_to_fix"]["median"]),
        ),
        say(
            lang,
            "digest_sla",
            claim=_percent(s["claim_sla_breached"]),
            claim_before=_percent(b["claim_sla_breached"]),
            resolve=_percent(s["resolve_sla_breached"]),
            resolve_before=_percent(b["resolve_sla_breached"]),
        ),
        say(
            lang,
            "digest_quality",
            reopen=_percent(s["reopen_rate"]),
            reopen_before=_percent(b["reopen_rate"]),
            backlog=s["backlog"],
        ),
    ]
    late = report["breaching_now"]
    if not late["count"]:
        lines.append(say(lang, "digest_none_breaching"))
        return "\n".join(lines)
    lines.append(say(lang, "digest_breaching", count=late["count"]))
    for order in late["orders"][:BREACHING_NAMED]:
        what = say(lang, f"digest_breach_{order['breach']}")
        lines.append(
            say(lang, "digest_breaching_one", order_id=order["id"], what=what, over=span(lang, order["over_seconds"]))
        )
    if late["count"] > BREACHING_NAMED:
        lines.append(say(lang, "digest_breaching_more", count=late["count"] - BREACHING_NAMED))
    return "\n".join(lines)


def _sides(now: dict[str, Any], before: dict[str, Any]) -> tuple[tuple[str, dict[str, Any]], ...]:
    return (("", now), ("_before", before))


def _period_of(report: dict[str, Any]) -> Period:
    from zoneinfo import ZoneInfo

    p = report["period"]
    return Period(date.fromisoformat(p["from"]), date.fromisoformat(p["to"]), ZoneInfo(p["timezone"]))
