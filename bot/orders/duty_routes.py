"""``DUTY_ROUTES``: which chat hears of a new order, per platform and tenant and optionally alarm type.

``slack:T0123=C0456, slack:T0123:火情/烟雾=C0789, feishu:*=oc_abc, wecom:ww12=chat:wrk123|users:zhangsan;lisi``

Each entry is ``platform:tenant[:alarm type]=target``; ``*`` as the tenant matches any tenant. The third part
may instead name a registry site or zone (``bot.sites``): ``slack:T0123:site:B3-E=C0111``,
``slack:T0123:zone:east=C0222``. The most specific entry wins: tenant and type, then tenant and the order's
site, then tenant and its zone, then tenant; then the same for any tenant (type, site, zone, none).
A target is the platform's chat id (Slack channel, Feishu ``oc_…`` chat). On WeCom it is
``chat:<appchat id>`` (a group chat the app made), ``users:<id>;<id>`` (each person's app chat),
or both joined by ``|``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.ports import Order

ANY_TENANT = "*"
SITE, ZONE = "site:", "zone:"  # the third part of an entry that names a registry site or zone, not a type
_PLATFORM = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_ID = re.compile(r"^[\w.@-]{1,128}$")


@dataclass(frozen=True)
class DutyTarget:
    """Where one order's duty card goes: chats (Slack, Feishu, WeCom app chats) and WeCom users."""

    chats: tuple[str, ...] = ()
    users: tuple[str, ...] = ()

    def addresses(self) -> list[str]:
        """One address per message a posting sends: ``chat:<id>`` each, and ``users:<id>|<id>`` for all the
        people at once (WeCom's ``message/send`` takes them together)."""
        people = [f"users:{'|'.join(self.users)}"] if self.users else []
        return [*(f"chat:{chat}" for chat in self.chats), *people]


@dataclass(frozen=True)
class DutyRoutes:
    routes: dict[tuple[str, str, str], DutyTarget]  # (platform, tenant or *, alarm type or "") → target

    def __bool__(self) -> bool:
        return bool(self.routes)

    def target(
        self, platform: str, tenant: str, alarm_type: str, site_id: str = "", zone: str = ""
    ) -> DutyTarget | None:
        """The chat of the most specific entry for an order of this tenant, type, and registry site and zone."""
        wheres = [alarm_type, *([f"{SITE}{site_id}"] if site_id else []), *([f"{ZONE}{zone}"] if zone else []), ""]
        for who in (tenant, ANY_TENANT):
            for where in wheres:
                if (platform, who, where) in self.routes:
                    return self.routes[(platform, who, where)]
        return None


def order_target(order: Order, *routes: DutyRoutes) -> DutyTarget | None:
    """Where ``order``'s card goes: the first of ``routes`` (escalation, then duty) with an entry for its
    platform and tenant, alarm type, registry site or zone (``DutyRoutes.target``)."""
    home, site = order.reporter, order.site
    for each in routes:
        found = each.target(
            home.platform, home.tenant, order.alarm_type, site.id if site else "", site.zone if site else ""
        )
        if found is not None:
            return found
    return None


def parse_duty_routes(raw: str) -> DutyRoutes:
    """The setting's routes; ``ValueError`` saying which entry is wrong and how."""
    routes: dict[tuple[str, str, str], DutyTarget] = {}
    for number, entry in enumerate((e.strip() for e in raw.split(",")), 1):
        if not entry:
            if raw.strip():
                raise ValueError(f"entry {number} is empty (two commas in a row, or a comma at an end)")
            continue
        where, sep, target = entry.partition("=")
        parts = [p.strip() for p in where.split(":", 2)]
        if not sep or len(parts) < 2 or not target.strip():
            raise ValueError(f"entry {number} ({entry!r}) is not platform:tenant[:alarm type]=target")
        platform, tenant = parts[0].lower(), parts[1]
        alarm_type = parts[2] if len(parts) == 3 else ""
        if not _PLATFORM.match(platform) or not tenant or (len(parts) == 3 and not alarm_type):
            raise ValueError(f"entry {number} ({entry!r}) names no platform, tenant or alarm type")
        if alarm_type.startswith((SITE, ZONE)) and not alarm_type.partition(":")[2].strip():
            raise ValueError(f"entry {number} ({entry!r}) names no site or zone after {alarm_type!r}")
        key = (platform, tenant, alarm_type)
        if key in routes:
            raise ValueError(f"entry {number} repeats {where.strip()!r}")
        routes[key] = _target(platform, target.strip(), number)
    return DutyRoutes(routes)


def _target(platform: str, raw: str, number: int) -> DutyTarget:
    if platform != "wecom":
        if not _ID.match(raw):
            raise ValueError(f"entry {number}: {raw!r} is not a chat id")
        return DutyTarget(chats=(raw,))
    chats: list[str] = []
    users: list[str] = []
    for part in raw.split("|"):
        kind, sep, ids = part.strip().partition(":")
        listed = [i.strip() for i in ids.split(";") if i.strip()]
        if not sep or kind not in ("chat", "users") or not listed or not all(_ID.match(i) for i in listed):
            raise ValueError(f"entry {number}: a WeCom target is chat:<id> or users:<id>;<id> (joined by |)")
        (chats if kind == "chat" else users).extend(listed)
    return DutyTarget(tuple(chats), tuple(users))
