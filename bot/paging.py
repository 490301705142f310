"""Keyset paging shared by every list: the page size bound and opaque cursors.

A cursor is a small JSON object in URL-safe base64. Callers decide what it holds (a score
and a member for the session index, a time and an id for orders); this module only makes
sure a cursor that it did not hand out is refused with ``ValueError``.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

MAX_PAGE = 200  # the most items one page may ask for
T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict[str, Any]:
    """The object ``encode_cursor`` made; ValueError for anything else."""
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError("invalid cursor") from None
    if not isinstance(data, dict):
        raise ValueError("invalid cursor")
    return data


def clamp(limit: int) -> int:
    return max(1, min(MAX_PAGE, int(limit)))
