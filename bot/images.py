"""Photo checks: is it an image we accept, how it is kept, and is it the same picture as another one.

Pure functions over bytes (no I/O). Uploads come from outside, so the type is
decided by magic bytes, never by file name or a declared content type, and
decoding is limited to the formats we accept with Pillow's decompression-bomb
guard turned into a rejection. ``upright`` turns what phones send into what storage and the
VLM take: HEIC/HEIF (iPhones) becomes JPEG, and a photo rotated by its EXIF orientation tag
is turned upright, so every later reader sees the picture as the user did. ``for_model`` makes the
smaller copy a VLM is sent (storage keeps the photo as it came): a VLM bills and reads by pixels,
so a phone's full resolution buys cost and latency, not answers.
"""

from __future__ import annotations

import hashlib
import io
import math
import threading
import warnings
from collections.abc import Callable
from itertools import pairwise
from typing import Literal, TypeVar

import pillow_heif
from PIL import Image, ImageOps

pillow_heif.register_heif_opener()  # Pillow opens HEIC/HEIF through it, with Pillow's own size guard

RejectReason = Literal["too_large", "not_image", "empty"]
_REASONS = ("too_large", "not_image", "empty")
T = TypeVar("T")

# Pillow format names matching what sniff_image_type accepts; nothing else is decoded.
_PIL_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "HEIF")
# The ISO-BMFF brands of HEIC/HEIF stills (and their sequences, whose first frame is taken).
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1"})
_SAVE_AS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}
_JPEG_QUALITY = 90
_ORIENTATION = 0x0112  # the EXIF tag; 1 is upright
# dHash works on a 9x8 grayscale thumbnail; JPEGs are DCT-decoded at a reduced scale
# no smaller than this, which saves memory and time on large phone photos.
_HASH_W, _HASH_H = 9, 8
_DRAFT_SIZE = (128, 128)

# warnings.catch_warnings() swaps a process-wide filter list; serialise our own uses
# so two worker threads hashing at once cannot restore each other's filters.
_warnings_lock = threading.Lock()


class ImageRejected(ValueError):
    """The upload is not a photo we will store; ``reason`` picks the reply to the user."""

    def __init__(self, reason: RejectReason, detail: str = "") -> None:
        if reason not in _REASONS:
            raise ValueError(f"unknown rejection reason {reason!r}")
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason: RejectReason = reason


def sniff_image_type(data: bytes) -> str | None:
    """The content type from the first bytes, or None; file names and headers lie."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if len(data) >= 12 and data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        return "image/heic"
    return None


def check_image(data: bytes, max_bytes: int) -> str:
    """Accept an upload before storing it: return its content type or raise ImageRejected."""
    if not data:
        raise ImageRejected("empty")
    if len(data) > max_bytes:
        raise ImageRejected("too_large", f"{len(data)} bytes > {max_bytes}")
    content_type = sniff_image_type(data)
    if content_type is None:
        raise ImageRejected("not_image")
    return content_type


def perceptual_hash(data: bytes) -> int:
    """A 64-bit difference hash (dHash) that survives re-encoding, resizing and format changes.

    EXIF orientation is applied first so a rotated-by-metadata copy hashes like the
    upright one. Raises ImageRejected("not_image") when the bytes do not decode as
    JPEG/PNG/WebP/GIF/HEIF or are a decompression bomb.
    """
    pixels = _decoded(data, _hash_pixels)
    value = 0
    for row in range(_HASH_H):
        line = pixels[row * _HASH_W : (row + 1) * _HASH_W]
        for left, right in pairwise(line):
            value = (value << 1) | (1 if right > left else 0)
    return value


def upright(data: bytes, content_type: str) -> tuple[bytes, str]:
    """The photo as it is stored and analysed: (bytes, type).

    HEIC/HEIF becomes JPEG (VLM APIs and browsers do not take it); a JPEG/PNG/WebP whose EXIF
    orientation is not upright is re-encoded turned upright (a VLM reads the pixels, not the tag).
    Anything else is returned as it came. Raises ImageRejected("not_image") when it does not decode.
    """
    if content_type == "image/heic":
        return _decoded(data, _as_jpeg), "image/jpeg"
    if content_type not in _SAVE_AS:
        return data, content_type
    return _decoded(data, lambda img: _turned(img, _SAVE_AS[content_type])) or data, content_type


def for_model(data: bytes, max_side: int, quality: int) -> tuple[bytes, str]:
    """The copy of a photo a VLM is sent: (bytes, type), its long side at most ``max_side`` pixels.

    Upright (EXIF orientation applied, the tag dropped), transparency flattened onto white,
    re-encoded as JPEG at ``quality``. A JPEG already upright and within the limit is returned
    as it came: re-encoding it would cost CPU and detail and save little. ``max_side`` 0 returns
    every photo as it came. Raises ImageRejected when the bytes are not an image we decode.
    """
    if max_side <= 0:
        content_type = sniff_image_type(data)
        if content_type is None:
            raise ImageRejected("empty" if not data else "not_image")
        return data, content_type
    scaled = _decoded(data, lambda img: _for_model(img, max_side, quality))
    return (data, "image/jpeg") if scaled is None else (scaled, "image/jpeg")


def _for_model(img: Image.Image, max_side: int, quality: int) -> bytes | None:
    """None when the photo may go as it is (an upright JPEG within the limit), else the JPEG copy."""
    width, height = img.size
    upright_tag = img.getexif().get(_ORIENTATION, 1) in (1, None)
    if img.format == "JPEG" and upright_tag and max(width, height) <= max_side:
        return None
    scale = min(1.0, max_side / max(width, height))
    # libjpeg decodes at 1/2, 1/4 or 1/8 scale when asked (never below the size asked for):
    # most of a phone photo's pixels are then never decoded.
    img.draft("RGB", (math.ceil(width * scale), math.ceil(height * scale)))
    turned = _flatten(ImageOps.exif_transpose(img)).convert("RGB")
    long_side = max(turned.size)
    if long_side > max_side:
        ratio = max_side / long_side
        size = (max(1, round(turned.width * ratio)), max(1, round(turned.height * ratio)))
        # Bicubic: Lanczos costs more CPU and shows a VLM nothing more at these ratios.
        turned = turned.resize(size, Image.Resampling.BICUBIC, reducing_gap=3.0)
    out = io.BytesIO()
    turned.save(out, format="JPEG", quality=quality)  # no exif=: the tag (and GPS) stay home
    return out.getvalue()


def _decoded(data: bytes, use: Callable[[Image.Image], T]) -> T:
    """``use`` applied to the decoded picture; ImageRejected for anything that is not a sane image."""
    if not data:
        raise ImageRejected("empty")
    try:
        with _warnings_lock, warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=_PIL_FORMATS) as img:
                return use(img)
    except ImageRejected:
        raise
    except Exception as exc:  # any decoder failure on untrusted bytes means "not a usable image"
        raise ImageRejected("not_image", type(exc).__name__) from exc


def _hash_pixels(img: Image.Image) -> list[int]:
    img.draft("L", _DRAFT_SIZE)
    gray = _flatten(ImageOps.exif_transpose(img)).convert("L")
    return list(gray.resize((_HASH_W, _HASH_H), Image.Resampling.LANCZOS).getdata())


def _as_jpeg(img: Image.Image) -> bytes:
    return _encoded(_flatten(ImageOps.exif_transpose(img)).convert("RGB"), "JPEG")


def _turned(img: Image.Image, fmt: str) -> bytes | None:
    """The picture re-encoded upright, or None when its orientation tag already says upright."""
    if img.getexif().get(_ORIENTATION, 1) in (1, None):
        return None
    turned = ImageOps.exif_transpose(img)
    return _encoded(turned.convert("RGB") if fmt == "JPEG" else turned, fmt)


def _encoded(img: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    img.save(out, format=fmt, **({"quality": _JPEG_QUALITY} if fmt in ("JPEG", "WEBP") else {}))
    return out.getvalue()


def hamming(a: int, b: int) -> int:
    """How many of the 64 hash bits differ."""
    return (a ^ b).bit_count()


def same_picture(a: bytes, b: bytes, max_distance: int = 6) -> bool:
    """Is ``b`` the same photo as ``a`` (e.g. a "fixed" photo that is just the report photo again)?

    Identical bytes always are; otherwise the dHashes must be within ``max_distance``
    bits. Raises ImageRejected if either side is not a decodable image.
    """
    if hashlib.sha256(a).digest() == hashlib.sha256(b).digest():
        return True
    return hamming(perceptual_hash(a), perceptual_hash(b)) <= max_distance


def _flatten(img: Image.Image) -> Image.Image:
    """Composite transparency onto white, so a PNG with alpha hashes like its JPEG copy."""
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        background.alpha_composite(rgba)
        return background
    return img
