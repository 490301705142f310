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
