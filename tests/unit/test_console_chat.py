"""The console chat's lines (``flask --app wsgi bot chat``): what it tells a newcomer to type works."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from bot.dialogue.engine import Conversation
from bot.messages import Incoming
from handlers.cli import parse_line, status_line
from tests.support.engine import Chat, photo

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


def test_the_status_line_says_the_open_question_not_only_the_state(make_engine: Callable[..., Conversation]) -> None:
    chat = Chat(make_engine(), platform="console", tenant="local", user="zhangsan")
    assert status_line(chat.image(photo(1))) == "[waiting for alarm_type, state waiting_location]"  # the type is asked
    assert status_line(chat.text("2")) == "[waiting for location, state waiting_location]"
    assert status_line(chat.text("3号楼东门")) == "[waiting for confirm, state waiting_confirm]"
    done = chat.text("确认")
    assert status_line(done) == f"[idle, order {done.order_id}]"
