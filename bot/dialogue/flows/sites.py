"""The site registry in the report flow (``bot.sites``): a typed place landed on a site, or a choice among close
ones; the place as the summary shows it (the site, and where it came from).

The pending ``location`` keeps what the user gave (``label``: their words, or a shared location's label and
coordinates) and, when it landed on a site, ``site``: ``{"id", "name", "zone", "source"}``. A tenant without
sites never gets a ``site``: its places stay as typed.
"""

from __future__ import annotations

import functools
from typing import Any

from bot.dialogue.context import TurnContext
from bot.dialogue.services import tenant_sites
from bot.messages import Location
from bot.ports import SitePlace
from bot.sites.geo import datum_of, nearest
from bot.sites.matching import Match, match
from bot.sites.model import Site
from bot.sites.qr import scan

BUTTON_SITE_CHARS = 12


def site_entry(site: Site, source: str) -> dict[str, str]:
    return {"id": site.id, "name": site.name, "zone": site.zone, "source": source}


def site_place(location: dict[str, Any] | None) -> SitePlace | None:
    """The order's ``SitePlace`` from a pending location."""
    site = (location or {}).get("site")
    if not isinstance(site, dict) or not site.get("id"):
        return None
    return SitePlace(
        site["id"], site.get("name") or site["id"], site.get("zone") or "", site.get("source") or "matched"
    )


class SitePlaces:
    def __init__(self, ctx: TurnContext) -> None:
        self.ctx = ctx
        self._scanned: dict[tuple[int, ...], Site | None] = {}

    def registry(self) -> list[Site]:
        """This tenant's sites; none when there is no registry or the database is down (places stay as typed)."""
        return tenant_sites(self.ctx.services, self.ctx.reporter().home, self.ctx.session.key)

    @functools.cached_property
    def typed(self) -> Match:
        """Where the words of this message land (nothing for a shared location)."""
        ctx = self.ctx
        if ctx.incoming.location is not None or not ctx.intent.arg:
            return Match()
        return match(ctx.intent.arg, self.registry())

    # -- conditions and callbacks of the machine table -----------------------------------------------------------
    def place_unsure(self) -> bool:
        return bool(self.typed.choices)

    def hold_site_choices(self) -> None:
        """Several sites come close: the words wait (as "is «…» the place?" does) with the candidates."""
        pending = self.ctx.pending
        pending["proposed_place"] = self.ctx.intent.arg[:500]
        pending["site_choices"] = [site_entry(site, "matched") for site in self.typed.choices]

    @functools.cached_property
    def near(self) -> list[tuple[Site, float]]:
        """The sites a shared location is near (``SITE_SNAP_METERS``), nearest first, at most three."""
        loc = self.ctx.incoming.location
        if loc is None or loc.latitude is None or loc.longitude is None:
            return []
        within = self.ctx.settings.site_snap_meters
        return nearest(self.registry(), loc.latitude, loc.longitude, datum_of(self.ctx.incoming.platform), within)

    def near_sites(self) -> bool:
        return bool(self.near)

    def hold_near_sites(self) -> None:
        """A shared location near sites: its coordinates wait (kept whatever is chosen) with the nearest sites."""
        loc, pending = self.ctx.incoming.location, self.ctx.pending
        assert loc is not None
        shared = {"label": loc.label, "latitude": loc.latitude, "longitude": loc.longitude}
        pending["shared_location"] = {**shared, "datum": datum_of(self.ctx.incoming.platform)}
        pending["proposed_place"] = loc.describe()
        pending["site_choices"] = [{**site_entry(site, "snapped"), "meters": round(m)} for site, m in self.near]

    def site_offered(self) -> bool:
        return any(c.get("id") == self.ctx.intent.arg for c in self.ctx.pending.get("site_choices") or ())

    def take_site(self) -> None:
        pending = self.ctx.pending
        chosen = next(c for c in pending.pop("site_choices") if c.get("id") == self.ctx.intent.arg)
        chosen.pop("meters", None)
        words = pending.pop("proposed_place", "") or chosen["name"]
        shared = pending.pop("shared_location", None)
        pending["location"] = {**shared, "site": chosen} if shared else {"label": words, "site": chosen}

    def ask_site_choice(self) -> None:
        ctx, pending = self.ctx, self.ctx.pending
        snapped = "shared_location" in pending
        if snapped:
            ctx.say("site_near")
        else:
            ctx.say("site_which", words=pending.get("proposed_place", ""))
        for number, choice in enumerate(pending.get("site_choices") or (), 1):
            name = choice["name"]
            label = name if len(name) <= BUTTON_SITE_CHARS else name[: BUTTON_SITE_CHARS - 1] + "…"
            if snapped:
                label = ctx.t("site_distance", site=label, meters=choice.get("meters", "?"))
            ctx.offer(f"site={choice['id']}", f"{number}. {label}", "primary" if number == 1 else "")
        ctx.offer("place_yes", ctx.t("choice_site_elsewhere" if snapped else "choice_site_words"))
        ctx.offer_cancel()

    # -- a QR tag in the report photo ----------------------------------------------------------------------------
    def scanned(self, photos: list[bytes]) -> Site | None:
        """The site of this tenant a tag in ``photos`` names (decoded once a turn)."""
        marker = tuple(id(data) for data in photos)
        if marker not in self._scanned:
            self._scanned[marker] = scan(photos, self.ctx.incoming.tenant, self.registry())
        return self._scanned[marker]

    def take_scanned(self, photos: list[bytes]) -> None:
        """A tag found: its site is the report's place (coordinates shared before stay)."""
        site = self.scanned(photos)
        if site is None:
            return
        location = dict(self.ctx.pending.get("location") or {})
        location["label"] = site.name
        location["site"] = site_entry(site, "qr")
        self.ctx.pending["location"] = location
        self.ctx.pending.pop("proposed_place", None)
        self.ctx.pending.pop("site_choices", None)

    # -- used by the place questions and the report ----------------------------------------------------------
    def land_typed(self, location: dict[str, Any]) -> None:
        """A typed place taken as the place: on its site when it clearly matches one (this message's words were
        matched once already, for ``place_unsure``)."""
        label = location.get("label") or ""
        found = (self.typed if label == self.ctx.intent.arg else match(label, self.registry())).site
        if found is not None:
            location["site"] = site_entry(found, "matched")

    def shown(self, location: dict[str, Any] | None) -> str:
        """The place as the summary shows it: the site and where it came from, else the words or coordinates."""
        if not location:
            return ""
        site = location.get("site")
        plain = Location(location.get("label") or "", location.get("latitude"), location.get("longitude"))
        if not isinstance(site, dict) or not site.get("name"):
            return plain.describe()
        name, source, words = site["name"], site.get("source"), location.get("label") or ""
        if source == "qr":
            place = self.ctx.t("site_place_scanned", site=name)
        elif source == "snapped":
            place = self.ctx.t("site_place_snapped", site=name)
        elif words and words != name:
            place = self.ctx.t("site_place_matched", site=name, words=words)
        else:
            place = name
        return self.ctx.t("site_place_with_zone", place=place, zone=site["zone"]) if site.get("zone") else place
