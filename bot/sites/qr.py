"""QR tags read from a report photo (zxing-cpp): the site of this tenant a tag names, or nothing.

Decoding never stops a report: no code, a damaged code, an image too large or not an image at all — each is
simply "no tag". A 12 MP JPEG is decoded at half size (Pillow's JPEG draft mode: about 2000 px wide, some
80 ms in all; ``bench/qr_intake.py``), which still reads a tag of a few centimetres in a photo of a room.
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Sequence

import zxingcpp
from PIL import Image

from bot.sites.model import Site
from bot.sites.tags import PREFIX

log = logging.getLogger(__name__)

DECODE_SIDE = 2000  # px: the longer side a photo is decoded at (a JPEG is decoded straight at this scale)
MAX_PIXELS = 80_000_000  # beyond this an image is not decoded at all


def read_codes(data: bytes) -> list[str]:
    """The texts of the QR codes in a photo; [] when there are none or the bytes cannot be decoded."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    return []
                scale = min(1.0, DECODE_SIDE / max(width, height))
                image.draft("L", (int(width * scale), int(height * scale)))
                gray = image.convert("L")
        while max(gray.size) > 2 * DECODE_SIDE:
            gray = gray.reduce(2)
        return [
            code.text
            for code in zxingcpp.read_barcodes(gray, formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode))
        ]
    except Exception as exc:  # any image the decoder cannot read is a photo without a tag
        log.info("no QR decode (%s)", type(exc).__name__)
        return []


def site_of(codes: Sequence[str], tenant: str, sites: Sequence[Site]) -> Site | None:
    """The first site of ``sites`` a ``WOBOT:<tenant>:<id>`` code names; codes of other tenants, unknown ids and
    other texts are ignored."""
    by_id = {site.id: site for site in sites}
    for code in codes:
        prefix, _, rest = code.partition(":")
        owner, _, site_id = rest.rpartition(":")
        if prefix == PREFIX and owner == tenant and site_id in by_id:
            return by_id[site_id]
    return None


def scan(photos: Sequence[bytes], tenant: str, sites: Sequence[Site], limit: int = 3) -> Site | None:
    """The site a tag in one of the first ``limit`` photos names (no decoding at all for a tenant without sites)."""
    if not sites:
        return None
    for data in photos[:limit]:
        found = site_of(read_codes(data), tenant, sites)
        if found is not None:
            return found
    return None
