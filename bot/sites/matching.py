"""A typed place landed on a registry site: one clear match, a few close ones, or none.

How names are compared (each site by its name and every alias, the best one counting):

* both sides folded as every message is (``bot.dialogue.folding``: full-width, traditional Chinese, case,
  spaces and punctuation), then scored 0–100 with rapidfuzz's ``ratio`` (an edit distance);
* the same on the words sorted (Chinese counted a character a word), so "东门 3号楼" meets "3号楼东门" and
  "east gate B3" meets "B3 east gate";
* a name found whole inside a longer text ("3号楼东门旁边") scores 90, the text found inside a name 80;
* Chinese typed in pinyin ("sanhaolou dongmen", "3haolou") is compared with the names' pinyin (pypinyin,
  tones dropped; worked out once per registry, and only for texts in Latin letters);
* numbers must agree: a text and a name with different numbers ("3号楼" and "5号楼") do not match at all.

A score of ``CLEAR`` or more, ahead of the next site by ``MARGIN``, is one clear match; sites from ``CLOSE``
within ``MARGIN`` of the best are offered to choose from (at most ``MAX_CHOICES``); else there is no match.
When a matched name lies inside another matched site's name scoring nearly as well, the longer (more specific)
one is kept.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz

from bot.dialogue.folding import clean, key
from bot.sites.model import Site

CLEAR = 90.0
CLOSE = 80.0
MARGIN = 8.0
MAX_CHOICES = 3
_WORDS = re.compile(r"[a-z]+|\d+|[\u3400-\u9fff]")
_NUMBERS = re.compile(r"\d+")


@dataclass(frozen=True)
class Match:
    """``site``: the one clear match; else ``choices``: the close ones, best first (maybe none)."""

    site: Site | None = None
    choices: tuple[Site, ...] = ()


@dataclass(frozen=True)
class _Form:
    key: str
    words: str
    numbers: tuple[str, ...]


def _form(text: str) -> _Form:
    cleaned = clean(text).lower()
    return _Form(key(cleaned), " ".join(sorted(_WORDS.findall(cleaned))), tuple(_NUMBERS.findall(cleaned)))


@functools.lru_cache(maxsize=64)
def _site_forms(sites: tuple[Site, ...]) -> tuple[tuple[Site, tuple[tuple[_Form, _Form | None], ...]], ...]:
    """Each site's names as compared: (folded, pinyin when the name has Chinese). Once per registry version."""
    out = []
    for site in sites:
        forms = []
        for name in site.names:
            folded = _form(name)
            spelled = None
            if not folded.key.isascii():
                # imported here: its dictionaries take a third of a second, which a tenant without sites never needs
                from pypinyin import lazy_pinyin

                spelled = _form(" ".join(lazy_pinyin(clean(name))))
            forms.append((folded, spelled))
        out.append((site, tuple(forms)))
    return tuple(out)


def _score(said: _Form, name: _Form) -> float:
    if not said.key or not name.key:
        return 0.0
    if said.numbers and name.numbers and said.numbers != name.numbers:
        return 0.0
    best = max(fuzz.ratio(said.key, name.key), fuzz.ratio(said.words, name.words) - 2)
    if len(name.key) >= 2 and name.key in said.key:
        best = max(best, 90.0 + 10.0 * len(name.key) / len(said.key) - 0.01)
    elif len(said.key) >= 2 and said.key in name.key and len(said.key) * 5 >= len(name.key) * 2:
        best = max(best, CLOSE)
    return float(best)


def match(text: str, sites: Sequence[Site]) -> Match:
    """Where ``text`` (a place as typed) lands in ``sites``."""
    if not sites or not text.strip():
        return Match()
    said = _form(text)
    latin = said.key.isascii()
    scored: list[tuple[float, str, Site]] = []
    for site, forms in _site_forms(tuple(sites)):
        best, best_key = 0.0, ""
        for folded, spelled in forms:
            for form in (folded, spelled) if latin and spelled else (folded,):
                if form is not None and (score := _score(said, form)) > best:
                    best, best_key = score, folded.key
        if best >= CLOSE:
            scored.append((best, best_key, site))
    scored.sort(key=lambda item: -item[0])
    # a matched name inside another matched site's name: the longer one is the more specific
    kept = [s for s in scored if not any(s[1] != o[1] and s[1] in o[1] and o[0] >= s[0] - MARGIN for o in scored)]
    if not kept:
        return Match()
    top = kept[0][0]
    close = [site for score, _, site in kept if score >= top - MARGIN]
    if top >= CLEAR and len(close) == 1:
        return Match(site=close[0])
    return Match(choices=tuple(close[:MAX_CHOICES]))
