"""The console chat's lines (``flask --app wsgi bot chat``): what it tells a newcomer to type works."""

from __future__ import annotations

import re
from pathlib import Path

from bot.messages import Incoming
from handlers.cli import parse_line

ROOT = Path(__file__).resolve().parents[2]


def test_the_photo_hint_names_a_photo_that_exists() -> None:
    hint = parse_line("/photo", "zhangsan", "local")
    assert isinstance(hint, str) and hint.startswith("usage: /photo PATH")
    suggested = re.search(r"e\.g\. /photo (\S+)", hint)
    assert suggested, hint
    path = ROOT / suggested.group(1)
    assert path.is_file(), f"the hint suggests {suggested.group(1)}, which is not in the project"

    sent = parse_line(f"/photo {path}", "zhangsan", "local")
    assert isinstance(sent, Incoming) and sent.kind == "image" and sent.image == path.read_bytes()


def test_a_missing_photo_is_named() -> None:
    assert parse_line("/photo samples/leak.jpg", "zhangsan", "local") == "no such file: samples/leak.jpg"
