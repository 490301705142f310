"""QR tags as the tests read them back: zxing-cpp on PNGs, photos, and the pages inside a tag sheet's PDF."""

from __future__ import annotations

import io
import re

import zxingcpp
from PIL import Image


def decoded(data: bytes | Image.Image) -> list[str]:
    image = data if isinstance(data, Image.Image) else Image.open(io.BytesIO(data))
    return sorted(code.text for code in zxingcpp.read_barcodes(image))


def pdf_pages(pdf: bytes) -> list[Image.Image]:
    """The page images Pillow wrote into a PDF (each one JPEG stream: ``/Filter /DCTDecode``)."""
    assert pdf.startswith(b"%PDF-")
    pages = []
    for match in re.finditer(rb"/Filter /DCTDecode.*?stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        pages.append(Image.open(io.BytesIO(match.group(1))))
    return pages


def scene(size: tuple[int, int], seed: int = 1) -> Image.Image:
    """A busy synthetic room: coloured blocks of all sizes (what a QR finder must look past)."""
    import random

    from PIL import ImageDraw

    rng = random.Random(seed)
    image = Image.new("RGB", size, (120, 128, 112))
    draw = ImageDraw.Draw(image)
    for _ in range(size[0] * size[1] // 30_000):
        x, y = rng.randrange(size[0]), rng.randrange(size[1])
        w, h = rng.randrange(10, size[0] // 8), rng.randrange(10, size[1] // 8)
        draw.rectangle((x, y, x + w, y + h), fill=tuple(rng.randrange(256) for _ in range(3)))
    return image


def tag_photo(
    tenant: str,
    site_id: str,
    *,
    size: tuple[int, int] = (1600, 1200),
    tag_side: int = 500,
    angle: float = 0,
    quality: int = 90,
    seed: int = 1,
    where: tuple[float, float] = (0.55, 0.4),
) -> bytes:
    """A photo of a room with the project's own tag for ``site_id`` in it (printed by ``bot.sites.tags``), turned
    ``angle`` degrees, ``tag_side`` px wide, saved as a JPEG of ``quality``."""
    from bot.sites.model import Site
    from bot.sites.tags import tag_image

    tag = tag_image(tenant, Site(site_id, "3号楼东门")).convert("RGB")
    tag = tag.rotate(angle, expand=True, fillcolor=(235, 235, 235), resample=Image.Resampling.BICUBIC)
    tag.thumbnail((tag_side, tag_side))
    image = scene(size, seed)
    image.paste(tag, (int(size[0] * where[0]), int(size[1] * where[1])))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def phone_like(data: bytes, longest: int = 1280, quality: int = 60) -> bytes:
    """What a messenger does to a photo: scaled down and JPEG-compressed again."""
    image = Image.open(io.BytesIO(data)).convert("RGB")
    image.thumbnail((longest, longest))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()
