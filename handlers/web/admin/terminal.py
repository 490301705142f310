"""Text for a terminal: fixed-width tables aligned by display width, with nothing a terminal would obey.

A Chinese character takes two columns, so ``str.ljust`` misaligns a table of Chinese text;
``wcwidth`` knows each character's width. Cells hold what users typed: control characters (an
escape sequence could recolour or rewrite the on-call engineer's terminal) become spaces.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import wcwidth

CELL_WIDTH = 48  # columns a cell may take before it is cut with an ellipsis


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """Columns padded to the widest cell as displayed; trailing spaces dropped."""
    cells = [[cell(v) for v in row] for row in rows]
    widths = [wcwidth.width(h) for h in headers]
    for row in cells:
        widths = [max(w, wcwidth.width(c)) for w, c in zip(widths, row, strict=True)]
    lines = [_line(headers, widths), "  ".join("-" * w for w in widths)]
    lines += [_line(row, widths) for row in cells]
    return "\n".join(lines)


def cell(value: Any, width: int = CELL_WIDTH) -> str:
    """One value as one line of at most ``width`` columns: None as "-", a dict as ``k=v, flag``."""
    if value is None:
        return "-"
    if isinstance(value, dict):
        value = ", ".join(f"{k}={v}" if v is not True else k for k, v in value.items()) or "-"
    text = " ".join(printable(str(value)).split())
    if wcwidth.width(text) <= width:
        return text
    return wcwidth.clip(text, 0, width - 1).rstrip() + "…"


def printable(text: str) -> str:
    """``text`` with every control character (ESC, newlines, C1 codes…) turned into a space."""
    return "".join(ch if ch.isprintable() else " " for ch in text)


def _line(cells: Sequence[str], widths: Sequence[int]) -> str:
    return "  ".join(wcwidth.ljust(c, w) for c, w in zip(cells, widths, strict=True)).rstrip()
