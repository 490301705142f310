"""Every sentence exists in both languages with the same placeholders, and every name the code uses exists."""

from __future__ import annotations

import re
import string
from pathlib import Path
from typing import get_args

import pytest

from bot.dialogue.next_step import Need
from bot.replies import catalogue, say

ROOT = Path(__file__).resolve().parents[2]


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("name", sorted(catalogue()))
def test_both_languages_with_the_same_placeholders(name: str) -> None:
    texts = catalogue()[name]
    assert set(texts) == {"zh", "en"}
    assert all(t.strip() for t in texts.values())
    assert fields(texts["zh"]) == fields(texts["en"])


def test_every_sentence_named_in_the_code_exists() -> None:
    used: set[str] = set()
    for path in [*(ROOT / "bot").rglob("*.py"), *(ROOT / "handlers").rglob("*.py")]:
        source = path.read_text(encoding="utf-8")
        used |= set(
            re.findall(r"""\b(?:say|t|fail|refuse)\(\s*(?:self\.lang,\s*|[\w.]+,\s*)?["']([a-z_]+)["']""", source)
        )
    used |= {
        f"{kind}_{step}" for kind in ("help", "status") for step in get_args(Need) if step not in ("photo", "photo_use")
    }
    used.add("help_idle")
    used |= {f"severity_{s}" for s in ("low", "medium", "high")}
    used |= {f"status_{s}" for s in ("open", "closed", "cancelled")}
    assert len(used) > 40  # the scan found the names (a broken pattern would pass vacuously)
    missing = {n for n in used if n not in catalogue() and n not in ("storage", "orders", "vlm")}
    assert not missing, f"sentences used but not defined: {sorted(missing)}"


def test_say_falls_back_to_chinese_for_an_unknown_language() -> None:
    assert say("fr", "cancelled") == say("zh", "cancelled")
