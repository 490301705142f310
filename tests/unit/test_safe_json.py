"""JSON from outside (``handlers.platforms.safe_json``): orjson first, the stdlib for what it refuses, same answers."""

from __future__ import annotations

import pytest

from bot.messages import storable
from handlers.platforms import safe_json


def _nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def test_the_depth_limit_holds_whoever_parses() -> None:
    assert safe_json.loads(_nested(safe_json.MAX_DEPTH))
    with pytest.raises(safe_json.BadJson, match="nested deeper than 32"):
        safe_json.loads(_nested(safe_json.MAX_DEPTH + 1))  # orjson takes it; our limit refuses it
    with pytest.raises(safe_json.BadJson, match="nested deeper than 32"):
        safe_json.loads(_nested(5000))  # past orjson's own limit: the stdlib's RecursionError, the same answer


def test_braces_inside_strings_do_not_count_as_depth() -> None:
    text = b'{"text": "' + b"{[" * 40 + b'"}'  # many openers, one level
    assert safe_json.loads_object(text) == {"text": "{[" * 40}


def test_a_lone_surrogate_is_mended_and_odd_numbers_still_parse() -> None:
    mended = safe_json.loads_object(b'{"t": "a\\ud800b"}')  # orjson refuses it; the stdlib reads it
    assert mended == {"t": storable("a\ud800b")} and mended["t"].encode()  # mended: it can be stored
    assert safe_json.loads(b"[NaN, 1e999, 123456789012345678901234567890]")[2] == 123456789012345678901234567890
    with pytest.raises(safe_json.BadJson, match="not JSON"):
        safe_json.loads(b"{nope")
