"""JSON from outside, parsed so that no body can become a 5xx.

``json.loads`` lets through what later code cannot handle: nesting thousands of levels deep (a
``RecursionError`` here or in any walk of the result) and lone surrogates such as ``"\\ud83d"`` (a
``UnicodeEncodeError`` wherever the text is stored or sent). Every edge parses through ``loads``;
a bad body becomes :class:`BadJson` with a reason for a 400, and platform bodies are ``mended``.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from flask.json.provider import DefaultJSONProvider

from bot.messages import is_storable, storable

MAX_DEPTH = 32  # platform callbacks nest at most about 8 levels


class BadJson(ValueError):
    """Not JSON, or nested deeper than MAX_DEPTH; the text is the reason for the 400."""


def loads(raw: bytes | str, what: str = "body") -> Any:
    return _loads(raw, what)[0]


def _loads(raw: bytes | str, what: str) -> tuple[Any, bool]:
    """The value, and whether its strings may hold lone surrogates (only the stdlib lets them through)."""
    try:
        # orjson first: a few times faster, and it refuses lone surrogates, numbers JSON does not have
        # and nesting past 1,024. What it refuses goes to the stdlib, whose answer (mended, or a 400 with
        # the reason) is the one this module has always given.
        data, stdlib = orjson.loads(raw), False
    except orjson.JSONDecodeError:
        try:
            data, stdlib = json.loads(raw), True
        except RecursionError:
            raise BadJson(f"{what} is nested deeper than {MAX_DEPTH} levels") from None
        except (ValueError, TypeError):  # UnicodeDecodeError is a ValueError
            raise BadJson(f"{what} is not JSON") from None
    # Each level opens with a '{' or '[': a text with no more of them than the limit cannot be deeper (quoted
    # ones only count extra), and counting bytes is far cheaper than walking the value.
    openers = raw.count(b"{") + raw.count(b"[") if isinstance(raw, bytes) else raw.count("{") + raw.count("[")
    if openers > MAX_DEPTH and _deeper_than(data, MAX_DEPTH):
        raise BadJson(f"{what} is nested deeper than {MAX_DEPTH} levels")
    return data, stdlib


def loads_object(raw: bytes | str, what: str = "body") -> dict[str, Any]:
    """``loads`` for a body that must be an object, with every string ``mended``."""
    data, may_need_mending = _loads(raw, what)
    if not isinstance(data, dict):
        raise BadJson(f"{what} must be a JSON object")
    if not may_need_mending:
        return data
    mended_data: dict[str, Any] = mended(data)
    return mended_data


def mended(value: Any) -> Any:
    """``value`` with lone surrogates in every string (keys too) replaced, so all of it can be stored.

    Only for values ``loads`` accepted: their depth is bounded, so the recursion is too.
    """
    if isinstance(value, str):
        return value if is_storable(value) else storable(value)
    if isinstance(value, list):
        return [mended(item) for item in value]
    if isinstance(value, dict):
        return {mended(k): mended(v) for k, v in value.items()}
    return value


def _deeper_than(value: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        for child in children:
            if isinstance(child, (dict, list)):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


_COMPACT = {"separators": (",", ":")}
# Flask sorts keys, and writes dates and dataclasses with its own ``default`` (orjson would write ISO dates).
_ORJSON_LIKE_FLASK = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


class Utf8JsonProvider(DefaultJSONProvider):
    """Responses as readable UTF-8 (``"我"``, not ``"\\u6211"``), so a terminal shows the replies.

    ``ensure_ascii`` only guarded against text that cannot be UTF-8; such a response (a lone
    surrogate that reached a reply by some path) falls back to the escaped form instead of failing.
    """

    ensure_ascii = False

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        if kwargs == _COMPACT:  # every response outside debug mode: orjson, far faster
            try:
                return orjson.dumps(obj, default=self.default, option=_ORJSON_LIKE_FLASK).decode()
            except TypeError:  # orjson.JSONEncodeError: a lone surrogate, an integer past 64 bits…
                pass
        text = super().dumps(obj, **kwargs)
        if text.isascii() or is_storable(text):
            return text
        return super().dumps(obj, **{**kwargs, "ensure_ascii": True})
