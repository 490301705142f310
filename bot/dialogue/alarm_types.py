"""Alarm type names as people type them: the exact name, an alias, or the start of one name.

The default lists are aligned (the n-th zh type is the n-th en type), so a type typed in the other
language is understood too, and each has the everyday words for it. A name with a slash ("火情/烟雾")
answers to each part.
"""

from __future__ import annotations

import functools

from bot.config import DEFAULT_ALARM_TYPES, catch_all_type
from bot.dialogue.folding import key, keys, keyword

# Everyday words for the default types, in the order of DEFAULT_ALARM_TYPES.
_EVERYDAY: tuple[tuple[str, ...], ...] = (
    ("火", "着火", "起火", "火灾", "冒烟", "烟", "fire", "smoke", "burning"),
    ("渗水", "跑水", "积水", "滴水", "爆管", "水管爆了", "leak", "leaking", "water", "flood", "flooding"),
    ("电", "停电", "断电", "跳闸", "漏电", "电路", "电线", "power", "outage", "power cut", "electric", "sparks"),
    ("入侵", "闯入", "翻墙", "陌生人", "intruder", "break in", "trespass", "trespassing"),
    ("设备坏了", "坏了", "机器坏了", "broken", "equipment", "machine", "out of order"),
    ("堵塞", "堵了", "堵住", "占用", "blocked", "blockage", "obstruction", "exit blocked"),
    ("其它", "别的", "others", "something else"),
)
_MIN_PREFIX = 2  # "电" alone is an alias, not a prefix; a prefix of one letter names too much


@functools.lru_cache(maxsize=64)
def _names(types: tuple[str, ...]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Each type with every folded word that names it."""
    named = []
    for alarm_type in types:
        words = {alarm_type, *alarm_type.split("/")}
        for defaults in DEFAULT_ALARM_TYPES.values():
            if alarm_type in defaults:
                index = defaults.index(alarm_type)
                words.update(other[index] for other in DEFAULT_ALARM_TYPES.values() if index < len(other))
                words.update(_EVERYDAY[index] if index < len(_EVERYDAY) else ())
        named.append((alarm_type, tuple(sorted({folded for folded in map(keyword, words) if folded}))))
    return tuple(named)


def typed_type(text: str, types: tuple[str, ...]) -> str | None:
    """The type a message names by itself: its name or an alias, else the start of exactly one name.
    "漏水" / "water leak" / "leaking" / "elec" → that type; "3号楼漏水" → None (a place that mentions one)."""
    forms = keys(text)
    said = forms[-1]
    if not said:
        return None
    named = _names(types)
    exact = [alarm_type for form in forms for alarm_type, words in named if form in words]
    if exact:
        return exact[0]
    if len(said) < _MIN_PREFIX:
        return None
    started = {alarm_type for alarm_type, words in named if any(word.startswith(said) for word in words)}
    return started.pop() if len(started) == 1 else None


def named_type(answer: str, types: tuple[str, ...]) -> str | None:
    """The type an explicit answer ("类型 X", a list number) names; a part of one name will do here."""
    if answer.strip().isdigit():
        index = int(answer)
        return types[index - 1] if 1 <= index <= len(types) else None
    typed = typed_type(answer, types)
    if typed:
        return typed
    said = key(answer)
    inside = {t for t, words in _names(types) if said and any(said in word or word in said for word in words)}
    return inside.pop() if len(inside) == 1 else None


def mentions_type(text: str, types: tuple[str, ...]) -> bool:
    """Does the text name a type inside other words ("3号楼漏水了")? The catch-all does not count."""
    said = key(text)
    skip = catch_all_type(types)
    return any(
        len(word) >= _MIN_PREFIX and word in said
        for alarm_type, words in _names(types)
        if alarm_type != skip
        for word in words
    )
