"""What a text message asks for, in Chinese or English, whatever the bot's reply language.

Pure parsing: no state, no I/O. The conversation decides what an intent means in each state.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from bot.orders.ids import ID_ALPHABET

_ID = r"([A-Za-z]{2,5}-[A-Za-z0-9][A-Za-z0-9-]{0,63})"

# Whole-message keywords (after normalizing): the message *is* the command.
_KEYWORDS: dict[str, tuple[str, ...]] = {
    "cancel": ("取消", "算了", "cancel", "/cancel", "stop", "abort"),
    "help": ("帮助", "help", "/help", "?", "菜单", "menu"),
    "status": ("状态", "status", "/status"),
    "my_orders": ("我的工单", "my orders", "/orders", "orders"),
    "confirm": ("确认", "确定", "是", "好", "confirm", "yes", "y", "ok", "okay"),
    "retry": ("重试", "再试", "retry", "try again"),
    "close": ("结单", "close"),
    "new_report": ("新报修", "新的报修", "new report", "new"),
    "same_problem": ("同一个", "是同一个", "同一问题", "same", "same problem"),
}

# Commands followed by an argument.
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("withdraw", re.compile(r"^(?:取消工单|撤销工单|撤回工单|cancel)\s*[:：]?\s*" + _ID + r"$", re.I)),
    ("close", re.compile(r"^(?:结单|关单|close)\s*[:：]?\s*" + _ID + r"$", re.I)),
    # "结单 2" (its number in the list the bot showed) or "结单 7KQ2M" (the id's last five characters)
    ("close", re.compile(rf"^(?:结单|关单|close)\s*[:：]?\s*([1-9][0-9]?|[{ID_ALPHABET}]{{5}})$", re.I)),
    ("claim", re.compile(r"^(?:认领|接单|claim)\s*[:：]?\s*" + _ID + r"$", re.I)),
    ("order_query", re.compile(r"^(?:查工单|查询工单|工单|order)\s*[:：]?\s*" + _ID + r"$", re.I)),
    ("link_alarm", re.compile(r"^(?:告警|报警|alarm)\s*[:：]?\s*" + _ID + r"$", re.I)),
    ("choose_type", re.compile(r"^(?:类型|type)\s*[:：]?\s*(.+)$", re.I)),
)

# "收到告警 ALM-123，请处理" also links the alarm: the id may stand anywhere in the message.
_ALARM_ANYWHERE = re.compile(r"(?:告警|报警|alarm)\s*[:：#]?\s*" + _ID, re.I)
_NUMBER = re.compile(r"^(\d{1,2})$")
_TRAILING = "。．.!！~～"


@dataclass(frozen=True)
class Intent:
    name: str  # a keyword above, a pattern name, "number", or "text"
    arg: str = ""


def normalize(text: str) -> str:
    """Full-width to half-width, collapse spaces, trim trailing punctuation: '  确认。' -> '确认'."""
    folded = unicodedata.normalize("NFKC", text or "")
    folded = " ".join(folded.split())
    return folded.strip().rstrip(_TRAILING).strip()


def parse(text: str) -> Intent:
    clean = normalize(text)
    lowered = clean.lower()
    for name, words in _KEYWORDS.items():
        if lowered in words:
            return Intent(name)
    for name, pattern in _PATTERNS:
        match = pattern.match(clean)
        if match:
            arg = match.group(1).strip()
            return Intent(name, arg.upper() if name != "choose_type" else arg)
    alarm = _ALARM_ANYWHERE.search(clean)
    if alarm:
        return Intent("link_alarm", alarm.group(1).upper())
    number = _NUMBER.match(clean)
    if number:
        return Intent("number", number.group(1))
    return Intent("text", clean)
