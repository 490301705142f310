"""The registry as CSV: one site a row under a header row, UTF-8 with or without a BOM.

Columns (only ``id`` and ``name`` are required; order free): ``id, name, aliases, latitude, longitude, datum,
zone, parent``. ``aliases`` are separated by ``|``; ``datum`` is ``wgs84`` (the default) or ``gcj02``. A file is
read whole before anything is applied: the first bad row refuses it, naming its line.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable

from bot.sites.model import DATUMS, MAX_ALIASES, MAX_DEPTH, MAX_NAME_CHARS, MAX_SITES, SITE_ID, Datum, Site

COLUMNS = ("id", "name", "aliases", "latitude", "longitude", "datum", "zone", "parent")
ALIAS_SEPARATOR = "|"
MAX_ZONE_CHARS = 64
# A cell a person typed that starts like a formula is written with a ``'`` in front (a spreadsheet shows it
# instead of running it) and read back without it, so an export imports again unchanged.
_FORMULA_START = ("=", "+", "-", "@")


class BadSiteFile(ValueError):
    """The file cannot be applied; ``line`` is the line of the file at fault (1 is the header)."""

    def __init__(self, line: int, problem: str) -> None:
        super().__init__(f"line {line}: {problem}")
        self.line = line
        self.problem = problem


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadSiteFile(data.count(b"\n", 0, exc.start) + 1, "not UTF-8 text") from None


def _coordinate(value: str, name: str, limit: float, line: int) -> float | None:
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or abs(number) > limit:
        raise BadSiteFile(line, f"{name} must be a number between -{limit:g} and {limit:g}, not {value!r}")
    return number


def _site(row: dict[str, str], line: int) -> Site:
    site_id = row.get("id", "")
    if not SITE_ID.fullmatch(site_id):
        raise BadSiteFile(line, f"id {site_id!r} must be 1 to 64 letters, digits or _ . - / (starting with one)")
    name = " ".join(row.get("name", "").split())
    if not name or len(name) > MAX_NAME_CHARS:
        raise BadSiteFile(line, f"name must be 1 to {MAX_NAME_CHARS} characters")
    aliases = tuple(dict.fromkeys(a for a in (" ".join(x.split()) for x in row.get("aliases", "").split("|")) if a))
    if len(aliases) > MAX_ALIASES or any(len(a) > MAX_NAME_CHARS for a in aliases):
        raise BadSiteFile(line, f"at most {MAX_ALIASES} aliases of at most {MAX_NAME_CHARS} characters each")
    latitude = _coordinate(row.get("latitude", ""), "latitude", 90, line)
    longitude = _coordinate(row.get("longitude", ""), "longitude", 180, line)
    if (latitude is None) != (longitude is None):
        raise BadSiteFile(line, "latitude and longitude go together: give both or neither")
    datum = row.get("datum", "").lower() or "wgs84"
    if datum not in DATUMS:
        raise BadSiteFile(line, f"datum must be one of {', '.join(DATUMS)}, not {datum!r}")
    zone = row.get("zone", "")
    if len(zone) > MAX_ZONE_CHARS or any(c in zone for c in ":=,;"):
        raise BadSiteFile(line, f"zone must be at most {MAX_ZONE_CHARS} characters without : = , ;")
    parent = row.get("parent", "")
    if parent and not SITE_ID.fullmatch(parent):
        raise BadSiteFile(line, f"parent {parent!r} is not a site id")
    if parent == site_id:
        raise BadSiteFile(line, "a site cannot be its own parent")
    checked: Datum = "gcj02" if datum == "gcj02" else "wgs84"
    return Site(site_id, name, aliases, latitude, longitude, checked, zone, parent)


def read_sites(data: bytes, existing: Iterable[Site] = ()) -> list[Site]:
    """The sites of a CSV file, every row checked; ``existing``: the registry the file is applied to (a parent
    may be a site already there). Raises BadSiteFile naming the first bad line."""
    reader = csv.reader(io.StringIO(_text(data), newline=""))
    try:
        header = [" ".join(name.split()).lower() for name in next(reader)]
    except StopIteration:
        raise BadSiteFile(1, "the file is empty: a header row is needed (id,name,…)") from None
    except csv.Error as exc:
        raise BadSiteFile(1, f"not CSV ({exc})") from None
    unknown = [name for name in header if name not in COLUMNS]
    if unknown:
        raise BadSiteFile(1, f"unknown column {unknown[0]!r}; the columns are {', '.join(COLUMNS)}")
    if "id" not in header or "name" not in header or len(set(header)) != len(header):
        raise BadSiteFile(1, "the header row must name id and name, each column once")
    sites: list[Site] = []
    lines: dict[str, int] = {}
    try:
        for values in reader:
            line = reader.line_num
            if not any(v.strip() for v in values):
                continue
            if len(values) > len(header):
                raise BadSiteFile(line, f"{len(values)} values under a header of {len(header)} columns")
            cells = {name: _unquoted(value.strip()) for name, value in zip(header, values, strict=False)}
            site = _site(cells, line)
            if site.id in lines:
                raise BadSiteFile(line, f"id {site.id!r} is already on line {lines[site.id]}")
            lines[site.id] = line
            sites.append(site)
            if len(sites) > MAX_SITES:
                raise BadSiteFile(line, f"at most {MAX_SITES} sites a tenant")
    except csv.Error as exc:
        raise BadSiteFile(reader.line_num, f"not CSV ({exc})") from None
    _check_parents(sites, lines, existing)
    return sites


def _check_parents(sites: list[Site], lines: dict[str, int], existing: Iterable[Site]) -> None:
    parents = {site.id: site.parent for site in existing}
    parents.update((site.id, site.parent) for site in sites)
    for site in sites:
        if site.parent and site.parent not in parents:
            raise BadSiteFile(lines[site.id], f"parent {site.parent!r} is no site (of the file or the registry)")
        seen, at = [site.id], site.parent
        while at:
            if at in seen:
                raise BadSiteFile(lines[site.id], f"parents go round in a circle: {' → '.join([*seen, at])}")
            seen.append(at)
            at = parents.get(at, "")
        if len(seen) > MAX_DEPTH:
            raise BadSiteFile(lines[site.id], f"at most {MAX_DEPTH} levels (building → floor → room)")


def _unquoted(cell: str) -> str:
    return cell[1:] if cell[:1] == "'" and cell[1:2] in _FORMULA_START else cell


def _cell(text: str) -> str:
    return f"'{text}" if text.startswith(_FORMULA_START) else text


def write_sites(sites: Iterable[Site]) -> str:
    """The registry as a CSV ``read_sites`` reads back (with a BOM, so Excel sees UTF-8)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for s in sites:
        lat = "" if s.latitude is None else repr(s.latitude)
        lon = "" if s.longitude is None else repr(s.longitude)
        datum = s.datum if s.located else ""
        aliases = _cell(ALIAS_SEPARATOR.join(s.aliases))
        writer.writerow([s.id, _cell(s.name), aliases, lat, lon, datum, _cell(s.zone), s.parent])
    return "\ufeff" + out.getvalue()
