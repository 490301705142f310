"""Coordinates of shared locations and sites compared like with like.

WeCom and Feishu location messages in mainland China carry GCJ-02 coordinates (the datum Chinese map apps use,
offset from WGS84 by up to some 500 m); Slack and the generic webhook send WGS84, as GPS gives it. Each point
is kept as sent, with its datum (``coord_datum`` on the order); to measure a distance both are brought to WGS84
with the well-known GCJ-02 transform (the published Krasovsky-ellipsoid formula; its inverse by iteration,
within a few centimetres) and the great-circle distance is taken. Outside China the two datums are the same.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from bot.sites.model import Datum, Site

_EARTH_RADIUS_M = 6_371_008.8
_A = 6378245.0  # Krasovsky 1940
_EE = 0.00669342162296594323

# The datum each platform's location messages carry (China: GCJ-02 from the apps' Tencent and AMap maps).
PLATFORM_DATUM: dict[str, Datum] = {"wecom": "gcj02", "feishu": "gcj02"}


def datum_of(platform: str) -> Datum:
    return PLATFORM_DATUM.get(platform, "wgs84")


def distance_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * _EARTH_RADIUS_M * math.asin(math.sqrt(a))


def out_of_china(lat: float, lng: float) -> bool:
    return not (73.66 < lng < 135.05 and 3.86 < lat < 53.55)


def _delta(lat: float, lng: float) -> tuple[float, float]:
    x, y = lng - 105.0, lat - 35.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    dlat += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    dlat += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    dlat += (160.0 * math.sin(y / 12.0 * math.pi) + 320 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    dlng = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    dlng += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    dlng += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    dlng += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    rad = lat / 180.0 * math.pi
    magic = 1 - _EE * math.sin(rad) ** 2
    sqrt_magic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrt_magic) * math.pi)
    dlng = (dlng * 180.0) / (_A / sqrt_magic * math.cos(rad) * math.pi)
    return dlat, dlng


def wgs84_to_gcj02(lat: float, lng: float) -> tuple[float, float]:
    if out_of_china(lat, lng):
        return lat, lng
    dlat, dlng = _delta(lat, lng)
    return lat + dlat, lng + dlng


def gcj02_to_wgs84(lat: float, lng: float) -> tuple[float, float]:
    """The inverse, by fixed-point iteration (the forward offset changes slowly with position)."""
    if out_of_china(lat, lng):
        return lat, lng
    wlat, wlng = lat, lng
    for _ in range(5):
        glat, glng = wgs84_to_gcj02(wlat, wlng)
        wlat, wlng = wlat - (glat - lat), wlng - (glng - lng)
    return wlat, wlng


def to_wgs84(lat: float, lng: float, datum: str) -> tuple[float, float]:
    return gcj02_to_wgs84(lat, lng) if datum == "gcj02" else (lat, lng)


def nearest(
    sites: Sequence[Site], lat: float, lng: float, datum: str, within: float, limit: int = 3
) -> list[tuple[Site, float]]:
    """The located sites within ``within`` metres of a point (in ``datum``), nearest first, at most ``limit``."""
    if within <= 0:
        return []
    here = to_wgs84(lat, lng, datum)
    found = []
    for site in sites:
        if site.latitude is None or site.longitude is None:
            continue
        there = to_wgs84(site.latitude, site.longitude, site.datum)
        meters = distance_m(*here, *there)
        if meters <= within:
            found.append((site, meters))
    found.sort(key=lambda item: item[1])
    return found[:limit]
