"""Sentences of the site registry's part of the conversation (``bot.sites``): matched, scanned and snapped places."""

from __future__ import annotations

SITE_SENTENCES: dict[str, dict[str, str]] = {
    # the place as the summary and the order's look-ups show it
    "site_place_matched": {"zh": "{site}（你写的：{words}）", "en": "{site} (you wrote: {words})"},
    "site_place_scanned": {"zh": "{site}（扫码）", "en": "{site} (scanned)"},
    "site_place_snapped": {"zh": "{site}（按定位）", "en": "{site} (by location)"},
    "site_place_with_zone": {"zh": "{place} · 区域 {zone}", "en": "{place} · zone {zone}"},
    # several sites come close to the words typed
    "site_which": {
        "zh": "“{words}”是下面哪一个？点一个，或点“用我的原话”。",
        "en": "Which of these is “{words}”? Tap one, or “Use my words”.",
    },
    "choice_site_words": {"zh": "用我的原话", "en": "Use my words"},
    # a shared location near sites
    "site_near": {
        "zh": "你在这些位置附近，是哪一个？（坐标都会记在工单上）",
        "en": "You are near these places: which one is it? (The coordinates go on the order either way.)",
    },
    "choice_site_elsewhere": {"zh": "别处", "en": "Somewhere else"},
    "site_distance": {"zh": "{site}（{meters} 米）", "en": "{site} ({meters} m)"},
    # the duty card
    "duty_site": {"zh": "站点：{site}（{id}）", "en": "Site: {site} ({id})"},
    "duty_zone": {"zh": "区域：{value}", "en": "Zone: {value}"},
}
