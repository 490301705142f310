"""What a text message asks for, in Chinese or English, whatever the bot's reply language.

Pure parsing: no state, no I/O. Messages are folded first (``bot.dialogue.folding``), so "確 認!",
"好的确认" and "confirm please" are all a confirm. What an intent means in each state, and what a
text none of these rules knows becomes, is ``bot.dialogue.understanding``'s to say.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.dialogue.folding import clean, forms, keyword
from bot.orders.ids import ANY_ID, ID_ALPHABET, ORDER_REF

# Whole-message keywords (compared folded): the message *is* the command. Yes-like and no-like answers are
# here too; where "好" or "不对" means something (a summary, a question with buttons) is the state's to say.
_KEYWORDS: dict[str, tuple[str, ...]] = {
    "cancel": ("取消", "算了", "不报了", "不用了", "退出", "cancel", "/cancel", "stop", "abort", "quit", "never mind"),
    "help": ("帮助", "帮忙", "怎么用", "菜单", "说明", "help", "/help", "menu", "commands"),
    "status": ("状态", "进度", "status", "/status"),
    "my_orders": ("我的工单", "我的单", "我报的单", "工单列表", "my orders", "/orders", "orders", "my tickets"),
    "same_problem": ("同一个", "是同一个", "同一问题", "同一个问题", "same", "same problem", "same one"),
    "confirm": (
        *("确认", "确定", "是", "是的", "对", "对的", "好", "好的", "行", "可以", "没问题", "提交", "没错", "正确"),
        *("嗯", "嗯嗯", "同意", "确认提交", "确认无误", "就这样", "ok", "okay", "k", "yes", "y", "yep", "yeah"),
        *("yup", "ya", "sure", "correct", "right", "confirm", "confirmed", "submit", "go", "go ahead", "lgtm"),
        *("looks good",),
    ),
    "deny": (
        *("不", "不对", "不是", "不是的", "错了", "错", "不行", "不正确", "有误", "不要", "否", "no", "n", "nope"),
        *("nah", "wrong", "incorrect", "not right", "not correct", "不对劲"),
    ),
    "change_place": ("改位置", "位置不对", "地点不对", "换位置", "change place", "wrong place"),
    "change_type": ("改类型", "类型不对", "换类型", "change type", "wrong type"),
    # "I don't know" answers the question without an answer: the bot says a rough answer will do and asks again
    "unsure": ("不知道", "不清楚", "不确定", "不懂", "看不出", "说不清", "idk", "dont know", "not sure", "no idea"),
    "retry": ("重试", "再试", "再试一次", "重新识别", "retry", "try again", "again"),
    "new_report": ("新报修", "新的报修", "新问题", "报修", "new report", "new", "new problem"),
    # an order command without the order: the bot asks which, with the user's orders as buttons
    "close": ("结单", "关单", "完工", "close", "close order"),
    "withdraw": ("取消工单", "撤销工单", "撤回工单", "撤回", "撤销", "withdraw", "cancel order"),
    "order_query": ("查工单", "查询工单", "查单", "查工单状态", "look up", "lookup", "find order"),
    "claim": ("认领", "接单", "claim"),
}
# A message that is one of these symbols alone (they fold to nothing).
_SYMBOLS = {"👍": "confirm", "👌": "confirm", "✅": "confirm", "✔": "confirm", "👎": "deny", "❌": "deny", "?": "help"}
_BY_KEY: dict[str, str] = {}
for _name, _words in _KEYWORDS.items():
    for _word in _words:
        _BY_KEY.setdefault(keyword(_word), _name)


def _command(words: str, arg: str) -> re.Pattern[str]:
    return re.compile(rf"^(?:{words})\s*[:：#]?\s*{arg}$", re.I)


# The order's life (bot.orders.life), typed: "挂起 WO-… 等配件", "转交 7KQ2M @bob". The intent's arg is the
# order reference, then (after a space) the rest: a reason, a note, whom to hand it to, a rating.
_REST = ORDER_REF + r"(?:\s+(.+))?"
LIFE_INTENTS: tuple[tuple[str, str], ...] = (
    ("start", r"开始处理|开始|开工|start"),
    ("hold", r"挂起|暂停|hold|pause"),
    ("resume", r"恢复处理|恢复|继续|resume"),
    ("hand_over", r"转交给|转交|转给|hand over to|hand over|handover|transfer to|transfer"),
    ("take_over", r"接手|take over"),
    ("unclaim", r"退回|放弃|unclaim|release"),
    ("add_order_note", r"备注|note"),
    ("confirm_fixed", r"确认修好|已修好|修好了|已经修好|fixed|confirm fixed|it is fixed"),
    ("reopen", r"没修好|未修好|还没修好|没有修好|not fixed|still broken|reopen"),
    ("rate", r"评分|打分|rate|rating"),
)
_LIFE_NAMES = frozenset(name for name, _ in LIFE_INTENTS)


# Commands followed by an argument, matched on the cleaned text (case aside).
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("withdraw", _command(r"取消工单|撤销工单|撤回工单|撤回|撤销|取消|withdraw|cancel order|cancel", ORDER_REF)),
    ("close", _command(r"结单|关单|完工|完成|close order|close|done|finish", ORDER_REF)),
    *((name, _command(words, _REST)) for name, words in LIFE_INTENTS),
    ("claim", _command(r"认领|接单|claim", ORDER_REF)),
    ("order_query", _command(r"查询工单|查工单|查单|工单|查询|查|order|look up|lookup|status", ORDER_REF)),
    ("link_alarm", _command(r"告警|报警|alarm", f"({ANY_ID})")),
    ("choose_type", _command(r"类型|类别|改类型|改成类型|type|kind|change type to", r"(?:[是为]\s*)?(.+)")),
    ("location", _command(r"位置|地点|地址|改位置|位置改成|place|location|change place to", r"(?:[是在为]\s*)?(.+)")),
)
# The words a command above starts with: a message starting otherwise (most chatter) skips the patterns.
_COMMAND_START = re.compile(
    r"^(?:取消|撤|结|关单|完工|认领|接单|查|工单|告警|报警|类|改|位置|地点|地址|withdraw|cancel|close|claim|order"
    r"|look|status|alarm|type|kind|change|place|location"
    r"|开始|开工|挂起|暂停|恢复|继续|完成|转|接手|退回|放弃|备注|确认修好|已|修好|没|未修好|还没|评分|打分"
    r"|start|hold|pause|resume|done|finish|hand|transfer|take|unclaim|release|note|fixed|confirm|it is|not|still"
    r"|reopen|rate)",
    re.I,
)
_UPPER = frozenset({"withdraw", "close", "claim", "order_query", "link_alarm"})

# "收到告警 ALM-123，请处理" also links the alarm: the id may stand anywhere in the message.
_ALARM_ANYWHERE = re.compile(rf"(?:告警|报警|alarm)\s*[:：#]?\s*({ANY_ID})", re.I)
_NUMBER = re.compile(r"^(\d{1,2})$")
_BARE_ID = re.compile(rf"^#?\s*(WO-\d{{8}}-[{ID_ALPHABET}]{{5}})$", re.I)


@dataclass(frozen=True)
class Intent:
    name: str  # a keyword above, a pattern name, "number", "unclear" (nothing to read), or "text"
    arg: str = ""


def normalize(text: str) -> str:
    """The text as the bot keeps it (a place): folded to one spelling, trailing punctuation dropped."""
    return clean(text)


def parse(text: str) -> Intent:
    cleaned = clean(text)
    found = forms(cleaned)
    for form in found:
        name = _BY_KEY.get(form)
        if name is not None:
            return Intent(name)
    if not found[0]:  # nothing but punctuation or symbols
        symbol = _SYMBOLS.get(cleaned.replace("\ufe0f", "").strip())
        return Intent(symbol) if symbol else Intent("help") if "?" in cleaned else Intent("unclear")
    for name, pattern in _PATTERNS if _COMMAND_START.match(cleaned) else ():
        match = pattern.match(cleaned)
        if match:
            arg = match.group(1).strip()
            if name in _LIFE_NAMES:
                rest = (match.group(2) or "").strip()
                return Intent(name, f"{arg.upper()} {rest}".strip())
            return Intent(name, arg.upper() if name in _UPPER else arg)
    alarm = _ALARM_ANYWHERE.search(cleaned)
    if alarm:
        return Intent("link_alarm", alarm.group(1).upper())
    bare_id = _BARE_ID.match(cleaned)
    if bare_id:  # an order id sent alone is a question about that order
        return Intent("order_query", bare_id.group(1).upper())
    number = _NUMBER.match(cleaned)
    if number:
        return Intent("number", number.group(1))
    return Intent("text", cleaned)
