"""JSON from outside, parsed so that no body can become a 5xx.

``json.loads`` lets through what later code cannot handle: nesting thousands of levels deep (a
``RecursionError`` here or in any walk of the result) and lone surrogates such as ``"\\ud83d"`` (a
``UnicodeEncodeError`` wherever the text is stored or sent). Every edge parses through ``loads``;
a bad body becomes :class:`BadJson` with a reason for a 400, and platform bodies are ``mended``.
"""

from __future__ import annotations

import json
from typing import Any

from flask.json.provider import DefaultJSONProvider

from bot.messages import is_storable, storable

MAX_DEPTH = 32  # platform callbacks nest at most about 8 levels


class BadJson(ValueError):
    """Not JSON, or nested deeper than MAX_DEPTH; the text is the reason for the 400."""


def loads(raw: bytes | str, what: str = "body") -> Any:
    try:
        data = json.loads(raw)
    except RecursionError:
        raise BadJson(f"{what} is nested deeper than {MAX_DEPTH} levels") from None
    except (ValueError, TypeError):  # UnicodeDecodeError is a ValueError
        raise BadJson(f"{what} is not JSON") from None
    if _deeper_than(data, MAX_DEPTH):
        raise BadJson(f"{what} is nested deeper than {MAX_DEPTH} levels")
    return data


def loads_object(raw: bytes | str, what: str = "body") -> dict[str, Any]:
    """``loads`` for a body that must be an object, with every string ``mended``."""
    data = loads(raw, what)
    if not isinstance(data, dict):
        raise BadJson(f"{what} must be a JSON object")
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


class Utf8JsonProvider(DefaultJSONProvider):
    """Responses as readable UTF-8 (``"我"``, not ``"\\u6211"``), so a terminal shows the replies.

    ``ensure_ascii`` only guarded against text that cannot be UTF-8; such a response (a lone
    surrogate that reached a reply by some path) falls back to the escaped form instead of failing.
    """

    ensure_ascii = False

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        text = super().dumps(obj, **kwargs)
        if text.isascii() or is_storable(text):
            return text
        return super().dumps(obj, **{**kwargs, "ensure_ascii": True})
