"""Photo thumbnails for the admin page, with a small in-process cache shared by the server's threads."""

from __future__ import annotations

import io
import threading
from collections import OrderedDict

THUMB_PX = 240


def thumbnail(data: bytes, px: int = THUMB_PX) -> bytes:
    """A JPEG at most ``px`` on its long side; raises on anything Pillow cannot decode."""
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(data), formats=("JPEG", "PNG", "WEBP", "GIF")) as img:
        img.draft("RGB", (px * 2, px * 2))
        small = ImageOps.exif_transpose(img).convert("RGB")
        small.thumbnail((px, px))
        out = io.BytesIO()
        small.save(out, "JPEG", quality=80)
        return out.getvalue()


class Thumbnails:
    """An LRU of thumbnails by storage key: the list pages show the same photos on every refresh.

    gunicorn runs a process's requests on several threads; the lock keeps the ordered dict whole.
    """

    def __init__(self, size: int = 256) -> None:
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: str, original: bytes) -> bytes | None:
        """The thumbnail of ``original`` (stored under ``key``), or None if it cannot be decoded."""
        with self._lock:
            cached = self._items.get(key)
            if cached is not None:
                self._items.move_to_end(key)
                return cached
        try:
            small = thumbnail(original)  # outside the lock: decoding is the slow part
        except Exception:  # not decodable: the caller serves the original bytes
            return None
        with self._lock:
            self._items[key] = small
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return small
