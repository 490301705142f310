"""Folding what people type before it is matched: one spelling for the many ways a word arrives.

``clean`` is the text as the bot keeps it (a place, a type name typed): full-width to half-width,
traditional to simplified Chinese, spaces collapsed, trailing punctuation dropped. ``key`` is the
form words are compared in: ``clean`` in lower case without spaces, punctuation or symbols, and
without polite padding — "确 认", "確認。", "好的确认", "Confirm please!" and "OK!" fold to the key of
a keyword. Both languages are folded whatever ``BOT_LANGUAGE`` is: a Slack workspace in Shanghai
types Chinese to an English bot.
"""

from __future__ import annotations

import functools
import re
import unicodedata

import opencc

# Trailing marks a sentence ends with; a place keeps any inside it ("3-2号楼").
_TRAILING = "。．.!！~～、,，;；"
_CONVERTER = opencc.OpenCC("t2s")


def _traditional() -> frozenset[str]:
    """The CJK characters t2s changes on their own: a message without any is converted for nothing, and most
    messages have none (a look in a set costs less than a conversion; built once, in milliseconds)."""
    every = "".join(chr(point) for point in range(0x3400, 0xA000))
    return frozenset(a for a, b in zip(every, _CONVERTER.convert(every), strict=False) if a != b)


_TRADITIONAL = _traditional()

# Polite words around a command that do not change it ("请确认", "确认一下吧", "confirm please"). Each is
# stripped only while something is left, and every step is tried as a key, so "好的" alone stays a yes.
_CJK_FRONT = ("麻烦你", "麻烦", "请帮我", "帮我", "请", "那就", "好的", "嗯")
# The softening ends of a spoken yes ("好滴", "好哒", "可以的", "OK的") are padding too.
_CJK_BACK = (
    *("一下吧", "一下", "吧", "啊", "呀", "哦", "噢", "呢", "啦", "谢谢", "多谢", "谢了", "了"),
    *("的", "滴", "哒", "嘞", "咯", "呐", "喔"),
)
# English padding is whole words, so "okay" never loses its "ok" and "know" its "now".
_CJK_BACK_LAST = frozenset(pad[-1] for pad in _CJK_BACK)
_CJK_FRONT_FIRST = frozenset(pad[0] for pad in _CJK_FRONT)
_NOT_A_WORD = re.compile(r"[\W_]+")
_EN_FILLERS = r"please|pls|plz|ok|okay|yes|yeah|sure|well|um+|uh+"
_EN_FRONT = re.compile(rf"^(?:{_EN_FILLERS})\b[\s,.!]*(?=\S)")
_EN_BACK = re.compile(r"(?<=\S)[\s,.!]*\b(?:please|pls|plz|thanks|thank you|thx|now|then|mate)$")


def clean(text: str) -> str:
    """'  確認。 ' → '确认'; 'ＷＯ－１' → 'WO-1'; '3号楼  东门' → '3号楼 东门'."""
    folded = unicodedata.normalize("NFKC", text or "")
    if not folded.isascii() and not _TRADITIONAL.isdisjoint(folded):
        folded = _CONVERTER.convert(folded)
    folded = " ".join(folded.split())
    return folded.rstrip(_TRAILING).strip()


# A yes or a filler before the answer itself, parted from it by a comma or a space ("好的，3号楼东门", "嗯 B2车库",
# "ok, gate 3"): not part of the place. Only with the parting mark, so "好运来酒店" keeps its "好".
_LEAD_IN = re.compile(
    rf"^(?:{'|'.join(_CJK_FRONT)}|好|嗯+|哦|噢|那个|呃|对|是的|{_EN_FILLERS})\s*[,，、\s]\s*(?=\S)", re.I
)


def without_lead_in(cleaned: str) -> str:
    """'好的,3号楼东门' → '3号楼东门': a place as answered, without the yes or filler said before it."""
    return _LEAD_IN.sub("", cleaned, count=1)


def keys(text: str) -> list[str]:
    """The forms a message is compared to keywords in, closest first: 'Confirm please!' → ['confirmplease',
    'confirm']; '好的确认' → ['好的确认', '确认']; '确 认' → ['确认']."""
    return forms(clean(text))


def forms(cleaned: str) -> list[str]:
    """``keys`` of a text already ``clean``. Each step is skipped when the text cannot hold its padding (a turn
    reads every message through here: most are no command at all)."""
    lowered = cleaned.lower()
    found = [_bare(lowered)]
    if lowered[:1].isascii() or lowered[-1:].isascii():
        words = _EN_FRONT.sub("", _EN_BACK.sub("", lowered))
        if words != lowered:
            found.append(_bare(words))
    bare = found[-1]
    while len(bare) > 1 and (bare[-1] in _CJK_BACK_LAST or bare[0] in _CJK_FRONT_FIRST):
        before = bare
        for pad in _CJK_BACK:  # the end first: "好的谢谢" is a yes, not "谢谢"
            if bare.endswith(pad) and len(bare) > len(pad):
                bare = bare[: -len(pad)]
                found.append(bare)
        for pad in _CJK_FRONT:
            if bare.startswith(pad) and len(bare) > len(pad):
                bare = bare[len(pad) :]
                found.append(bare)
        if bare == before:
            break
    return found


def key(text: str) -> str:
    """The message with all its padding stripped: the form a type name or a place is matched in."""
    return keys(text)[-1]


@functools.lru_cache(maxsize=1024)
def keyword(word: str) -> str:
    """One of the bot's own words (a keyword, a type name) in the form messages are compared to it."""
    return _bare(clean(word).lower())


def _bare(text: str) -> str:
    """Letters, digits and CJK only: spaces, punctuation, symbols and emoji go (``intents`` reads 👍 before)."""
    return _NOT_A_WORD.sub("", text)
