"""Times as a person reads them on the admin page, in the CLI's tables and in the CSV export: in ``TIMEZONE``.

The users see the bot's times in ``TIMEZONE`` (an order's "created at" in its reply), so an on-call engineer
comparing a user's screenshot with the page must see the same clock, and the zone named next to it, since
the engineer may sit in another one. The API's JSON keeps ISO 8601 in UTC: programs convert it themselves.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

FORMAT = "%Y-%m-%d %H:%M:%S"

Moment = datetime | str | float | None


def local(moment: Moment, zone: ZoneInfo) -> str | None:
    """``2026-12-06T12:03:15Z`` → ``2026-12-06 20:03:15`` in Asia/Shanghai. None stays None; text that is no
    time is shown as it is (an old history entry may hold anything)."""
    if moment is None or moment == "":
        return None
    if isinstance(moment, str):
        text = moment
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return text
    if isinstance(moment, (int, float)):
        moment = datetime.fromtimestamp(moment, UTC)
    if moment.tzinfo is None:  # the database keeps UTC without saying so
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone).strftime(FORMAT)


def named(moment: Moment, zone: ZoneInfo) -> str | None:
    """``2026-12-06 20:03:15 (Asia/Shanghai)``: a time standing alone, with its zone."""
    shown = local(moment, zone)
    return f"{shown} ({zone.key})" if shown is not None else None


def heading(title: str, zone: ZoneInfo) -> str:
    """A column of times names its zone once: ``LAST ACTIVITY (Asia/Shanghai)``."""
    return f"{title} ({zone.key})"
