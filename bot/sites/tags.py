"""Printable QR tags of a tenant's sites: one PNG a site, and A4 sheets of them as one PDF.

The QR code (segno) holds ``WOBOT:<tenant>:<site id>`` — short and unsigned: a tag only names a place, and the
bot takes it only from a photo sent by someone of that very tenant (``bot.sites.qr``). The site's name is printed
under the code, the id under the name. Chinese names need a CJK font: one is looked for at run time among the
usual places of Linux, macOS and Windows (``fonts-wqy-microhei``, Noto CJK, PingFang, Microsoft YaHei); without
one, a name the fallback font cannot draw is left off (the id stays), never printed as boxes.
"""

from __future__ import annotations

import functools
import glob
import io
import logging
from collections.abc import Sequence

import segno
from PIL import Image, ImageDraw, ImageFont

from bot.sites.model import Site

log = logging.getLogger(__name__)

PREFIX = "WOBOT"
TAG_WIDTH = 600  # px; printed at 150 dpi a tag is about 10 cm wide
_QR_SIDE = 480
A4_150DPI = (1240, 1754)
_SHEET_COLUMNS, _SHEET_ROWS, _SHEET_MARGIN = 3, 4, 40
SHEET_MAX_SITES = 20 * _SHEET_COLUMNS * _SHEET_ROWS  # 240 tags, 20 pages, drawn in memory: more are printed by part


def sheet_parts(count: int) -> int:
    """How many PDFs of at most ``SHEET_MAX_SITES`` tags ``count`` sites print as (at least one)."""
    return max(1, -(-count // SHEET_MAX_SITES))


_FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/System/Library/Fonts/PingFang.ttc",
    "/System/Library/Fonts/STHeiti Medium.ttc",
    "C:/Windows/Fonts/msyh.ttc",
    "C:/Windows/Fonts/simhei.ttf",
)
_FONT_PATTERNS = (
    "/usr/share/fonts/**/*[Ww]qy*.tt[cf]",
    "/usr/share/fonts/**/*CJK*.tt[cf]",
    "/usr/share/fonts/**/*CJK*.otf",
)
FontType = ImageFont.FreeTypeFont | ImageFont.ImageFont


def qr_text(tenant: str, site_id: str) -> str:
    return f"{PREFIX}:{tenant}:{site_id}"


@functools.lru_cache(maxsize=1)
def cjk_font_path() -> str | None:
    """A font file that draws Chinese, or None."""
    for path in _FONT_CANDIDATES:
        try:
            ImageFont.truetype(path, 12)
            return path
        except OSError:
            continue
    for pattern in _FONT_PATTERNS:
        for path in sorted(glob.glob(pattern, recursive=True)):
            try:
                ImageFont.truetype(path, 12)
                return path
            except OSError:
                continue
    log.warning("no CJK font found: tags show Chinese names only where the fallback font can draw them")
    return None


def _font(size: int) -> tuple[FontType, bool]:
    """(a font of ``size``, whether it draws Chinese)."""
    path = cjk_font_path()
    if path is not None:
        return ImageFont.truetype(path, size), True
    return ImageFont.load_default(size), False


def _fit(draw: ImageDraw.ImageDraw, text: str, size: int, width: int) -> tuple[str, FontType]:
    """The text in a font small enough for ``width`` (down to half size), shortened with … if still too wide."""
    font, cjk = _font(size)
    if not cjk and not text.isascii():
        return "", font
    while size > 12 and draw.textlength(text, font=font) > width:
        size -= 2
        font, _ = _font(size)
    while len(text) > 1 and draw.textlength(text, font=font) > width:
        text = text[:-2] + "…"
    return text, font


def tag_image(tenant: str, site: Site) -> Image.Image:
    code = segno.make(qr_text(tenant, site.id), error="m", micro=False)
    side = code.symbol_size(scale=1, border=4)[0]
    scale = max(4, _QR_SIDE // side)
    out = io.BytesIO()
    code.save(out, kind="png", scale=scale, border=4)
    qr = Image.open(io.BytesIO(out.getvalue())).convert("L")
    tag = Image.new("L", (TAG_WIDTH, qr.height + 130), 255)
    tag.paste(qr, ((TAG_WIDTH - qr.width) // 2, 0))
    draw = ImageDraw.Draw(tag)
    name, font = _fit(draw, site.name, 44, TAG_WIDTH - 40)
    if name:
        draw.text((TAG_WIDTH // 2, qr.height + 10), name, fill=0, font=font, anchor="mt")
    small, _ = _font(26)
    draw.text((TAG_WIDTH // 2, qr.height + 80), site.id, fill=90, font=small, anchor="mt")
    draw.rectangle((0, 0, TAG_WIDTH - 1, tag.height - 1), outline=180, width=2)  # a cutting line
    return tag


def tag_png(tenant: str, site: Site) -> bytes:
    out = io.BytesIO()
    tag_image(tenant, site).save(out, format="PNG", optimize=True)
    return out.getvalue()


def sheet_pdf(tenant: str, sites: Sequence[Site]) -> bytes:
    """A4 pages (150 dpi) of tags, three across and four down, in the order given. Raises ValueError for none or
    more than ``SHEET_MAX_SITES``."""
    if not sites:
        raise ValueError("no sites to print")
    if len(sites) > SHEET_MAX_SITES:
        raise ValueError(f"at most {SHEET_MAX_SITES} tags a sheet")
    page_w, page_h = A4_150DPI
    cell_w = (page_w - 2 * _SHEET_MARGIN) // _SHEET_COLUMNS
    cell_h = (page_h - 2 * _SHEET_MARGIN) // _SHEET_ROWS
    per_page = _SHEET_COLUMNS * _SHEET_ROWS
    pages: list[Image.Image] = []
    for start in range(0, len(sites), per_page):
        page = Image.new("L", A4_150DPI, 255)
        for n, site in enumerate(sites[start : start + per_page]):
            tag = tag_image(tenant, site)
            tag.thumbnail((cell_w - 16, cell_h - 16))
            row, column = divmod(n, _SHEET_COLUMNS)
            x = _SHEET_MARGIN + column * cell_w + (cell_w - tag.width) // 2
            y = _SHEET_MARGIN + row * cell_h + (cell_h - tag.height) // 2
            page.paste(tag, (x, y))
        pages.append(page)
    out = io.BytesIO()
    pages[0].save(out, format="PDF", save_all=True, append_images=pages[1:], resolution=150.0)
    return out.getvalue()
