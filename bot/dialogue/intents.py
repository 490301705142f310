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
    "cancel": (
        *(
            "取消",
            "算了",
            "不报了",
            "不用了",
            "退出",
            "取消报修",
            "不用报了",
            "不报修了",
            "不用报修了",
            "别报了",
            "放弃",
        ),
        *(
            "放弃报修",
            "cancel",
            "/cancel",
            "stop",
            "abort",
            "quit",
            "never mind",
            "cancel it",
            "stop it",
            "cancel that",
        ),
        *("cancel this", "cancel report", "cancel the report", "forget it"),
    ),
    "help": ("帮助", "帮忙", "怎么用", "菜单", "说明", "help", "/help", "menu", "commands"),
    "status": ("状态", "进度", "status", "/status"),
    "my_orders": ("我的工单", "我的单", "我报的单", "工单列表", "my orders", "/orders", "orders", "my tickets"),
    "same_problem": ("同一个", "是同一个", "同一问题", "同一个问题", "same", "same problem", "same one"),
    "confirm": (
        *("确认", "确定", "是", "是的", "对", "对的", "好", "好的", "行", "可以", "没问题", "提交", "没错", "正确"),
        *("嗯", "嗯嗯", "同意", "确认提交", "确认无误", "就这样", "ok", "okay", "k", "yes", "y", "yep", "yeah"),
        *("yup", "ya", "sure", "correct", "right", "confirm", "confirmed", "submit", "go", "go ahead", "lgtm"),
        *(
            "looks good",
            "没毛病",
            "妥",
            "妥了",
            "好嘞",
            "sure thing",
            "yeah sure",
            "of course",
            "sounds good",
            "alright",
        ),
        *("all right", "perfect"),
    ),
    "deny": (
        *("不", "不对", "不是", "不是的", "错了", "错", "不行", "不正确", "有误", "不要", "否", "no", "n", "nope"),
        *("nah", "wrong", "incorrect", "not right", "not correct", "不对劲", "错误"),
    ),
    "change_place": ("改位置", "位置不对", "地点不对", "换位置", "change place", "wrong place"),
    "change_type": ("改类型", "类型不对", "换类型", "change type", "wrong type"),
    # "I don't know" answers the question without an answer: the bot says a rough answer will do and asks again
    # (and "I am not on site": the same, a rough answer will do)
    "unsure": (
        *(
            "不知道",
            "不清楚",
            "不确定",
            "不懂",
            "看不出",
            "说不清",
            "我不在现场",
            "不在现场",
            "人不在现场",
            "我没在现场",
        ),
        *("idk", "dont know", "not sure", "no idea", "not on site", "im not on site", "i am not on site"),
        *("not there", "im not there"),
    ),
    "retry": ("重试", "再试", "再试一次", "重新识别", "retry", "try again", "again"),
    "new_report": ("新报修", "新的报修", "新问题", "报修", "new report", "new", "new problem"),
    # an order command without the order: the bot asks which, with the user's orders as buttons
    "close": ("结单", "关单", "完工", "完成", "close", "close order", "done", "finish"),
    "withdraw": ("取消工单", "撤销工单", "撤回工单", "撤回", "撤销", "withdraw", "cancel order"),
    "order_query": ("查工单", "查询工单", "查单", "查工单状态", "look up", "lookup", "find order"),
    "claim": ("认领", "接单", "claim"),
    # Small talk (``SMALL_TALK``): acknowledged, and the open question asked again — never an answer to it.
    "wait": (
        *("稍等", "等一下", "等等", "等一等", "等会", "等会儿", "等一会", "等一会儿", "马上", "马上来", "一会儿"),
        *("待会", "待会儿", "稍后", "hold on", "wait", "wait a moment", "wait a sec", "wait a minute", "one moment"),
        *("one sec", "one second", "just a sec", "just a moment", "a moment", "hang on", "give me a minute"),
        *("give me a sec", "brb", "hold up", "later"),
    ),
    "thanks": (
        *("谢谢", "多谢", "感谢", "谢了", "谢谢你", "辛苦了", "辛苦", "麻烦了", "thanks", "thank you", "thx", "ty"),
        *("cheers", "thanks a lot", "many thanks"),
    ),
    "got_it": (
        *("收到", "知道了", "明白", "明白了", "了解", "懂了", "got it", "noted", "understood", "roger", "copy"),
        *("copy that", "received"),
    ),
    "greeting": (
        *("你好", "您好", "嗨", "哈喽", "哈啰", "喂", "在吗", "在不在", "早", "早上好", "上午好", "中午好", "下午好"),
        *("晚上好", "早安", "hi", "hello", "hey", "hiya", "yo", "hi there", "hello there", "good morning", "morning"),
        *("good afternoon", "good evening"),
    ),
    # The photo was the wrong one: the next photo replaces it (a cancel starts over).
    "photo_again": (
        *(
            "重新拍",
            "重拍",
            "再拍",
            "再拍一张",
            "重新拍一张",
            "换一张",
            "换张",
            "换一张照片",
            "换照片",
            "发错了",
            "发错",
        ),
        *("拍错了", "传错了", "发错照片了", "照片发错了", "照片不对", "重发", "重新发", "重新发一张", "wrong photo"),
        *("wrong picture", "wrong pic", "retake", "new photo", "another photo", "send another", "resend"),
        *("take another", "sent the wrong photo"),
    ),
    # How urgent it is: the reporter's words go on the order as their note.
    "urgent": (
        *("很急", "急", "紧急", "着急", "加急", "特急", "急急急", "非常急", "特别急", "非常紧急", "十万火急", "快点"),
        *("尽快", "快点来", "赶紧", "urgent", "very urgent", "asap", "emergency", "hurry", "hurry up", "quick"),
    ),
}
SMALL_TALK = frozenset({"wait", "thanks", "got_it", "greeting"})  # Intent("small_talk", one of these)
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
# Spoken and pasted text puts a comma after the reference ("备注 7KQ2M，阀门已关" folds to "7KQ2M,阀门已关"), or
# nothing at all before Chinese words ("备注7KQ2M阀门已关", as speech-to-text writes it): both end the reference,
# except after a list number ("备注 2号楼漏水" is a note without its order, never one on list number 2).
PARTING = r"\s*[,;:、]\s*|\s+"  # between a command (or its order) and its words, in folded text ("，" is ",")
_REST = ORDER_REF + rf"(?:(?:{PARTING}|(?<=[A-Za-z0-9]{{5}})(?=[^\x00-\x7f]))(.+))?"
LIFE_INTENTS: tuple[tuple[str, str], ...] = (
    ("start", r"开始处理|开始|开工|start"),
    ("hold", r"挂起|暂停|hold(?!\s*(?:on|up)\b)|pause"),  # "hold on, let me check" is no hold
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


def without_order(intent: Intent) -> bool:
    """Is this an order's life command typed without its order ("开始", "修好了", "备注 等配件")?"""
    return intent.name in _LIFE_NAMES and not intent.arg.partition(" ")[0]


_LIFE_WORDS = dict(LIFE_INTENTS)
# The same typed without the order ("开始", "挂起 等配件", "转交 @bob", "评分 5"): the bot asks which order, with the
# orders that person may move so as buttons. Words after the command need a space or a colon (none after Chinese),
# and only where they mean something without an order: a reason, a note, a mention, a rating.
_AFTER = rf"(?:{PARTING}|(?<=[^\x00-\x7f]))"
_RATING_ALONE = re.compile(rf"^(?:{_LIFE_WORDS['rate']})\s*[:：]?\s*([1-5](?:\s*(?:分|星|stars?|/\s*5))?)$", re.I)
_WITHOUT_ORDER: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("hand_over", re.compile(rf"^(?:{_LIFE_WORDS['hand_over']})\s*(@\S+|<@[^>]+>)$", re.I)),
    *(
        (name, re.compile(rf"^(?:{_LIFE_WORDS[name]}){_AFTER}(.+)$", re.I))
        for name in ("hold", "add_order_note", "reopen")
    ),
    *((name, re.compile(rf"^(?:{words})()$", re.I)) for name, words in LIFE_INTENTS),
)


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
_ASKING = ("吗", "呢", "嘛", "?")
_UPPER = frozenset({"withdraw", "close", "claim", "order_query", "link_alarm"})

# "收到告警 ALM-123，请处理" also links the alarm: the id may stand anywhere in the message.
_ALARM_ANYWHERE = re.compile(rf"(?:告警|报警|alarm)\s*[:：#]?\s*({ANY_ID})", re.I)
_NUMBER = re.compile(r"^(\d{1,2})$")
# A choice said rather than typed ("二", "第二个", "the second one", "number 2"): speech-to-text writes numbers out.
_CJK_DIGITS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}
_EN_NUMBERS = {
    word: n
    for n, words in enumerate(
        (
            ("one", "first"),
            ("two", "second"),
            ("three", "third"),
            ("four", "fourth"),
            ("five", "fifth"),
            ("six", "sixth"),
            ("seven", "seventh"),
            ("eight", "eighth"),
            ("nine", "ninth"),
            ("ten", "tenth"),
        ),
        start=1,
    )
    for word in words
}
_SAID_NUMBER = re.compile(
    r"^(?:第\s*([一二三四五六七八九十]|\d{1,2})\s*(?:个|项|条|种)?|([一二两三四五六七八九十])\s*(?:个|项|条|种)?"
    r"|(?:the\s+)?(\w+)(?:\s+one)?|(?:number|no\.?|option|#)\s*(\d{1,2}))$",
    re.I,
)
_BARE_ID = re.compile(rf"^#?\s*(WO-\d{{8}}-[{ID_ALPHABET}]{{5}})$", re.I)


@dataclass(frozen=True)
class Intent:
    """``name``: a keyword above, a pattern name, "small_talk" (``arg``: which), "number", "unclear" (nothing to
    read), or "text". An order's life command's ``arg`` is the order reference, a space and the rest; without an
    order the reference is "" (``" 等配件"``)."""

    name: str
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
            if name in SMALL_TALK:
                return Intent("small_talk", name)
            return Intent(name, cleaned if name == "urgent" else "")
    if not found[0]:  # nothing but punctuation or symbols
        symbol = _SYMBOLS.get(cleaned.replace("\ufe0f", "").strip())
        return Intent(symbol) if symbol else Intent("help") if "?" in cleaned else Intent("unclear")
    if _COMMAND_START.match(cleaned):
        command = _command_in(cleaned)
        if command is not None:
            return command
    alarm = _ALARM_ANYWHERE.search(cleaned)
    if alarm:
        return Intent("link_alarm", alarm.group(1).upper())
    bare_id = _BARE_ID.match(cleaned)
    if bare_id:  # an order id sent alone is a question about that order
        return Intent("order_query", bare_id.group(1).upper())
    number = _NUMBER.match(cleaned)
    if number:
        return Intent("number", number.group(1))
    said = _said_number(cleaned)
    return Intent("number", said) if said else Intent("text", cleaned)


def _said_number(cleaned: str) -> str | None:
    """ "二" → "2", "第三个" → "3", "the second one" → "2", "number 4" → "4"; None for any other text."""
    match = _SAID_NUMBER.match(cleaned) if len(cleaned) <= 16 else None
    if match is None:
        return None
    cjk, cjk_alone, word, digits = match.groups()
    if word is not None:
        n = _EN_NUMBERS.get(word.lower())
        return str(n) if n else None
    said = cjk or cjk_alone or digits or ""
    return said if said.isdigit() else str(_CJK_DIGITS[said])


def _command_in(cleaned: str) -> Intent | None:
    """A command with its argument, or an order's life command without its order; None when it is neither."""
    rating = _RATING_ALONE.match(cleaned)  # "评分 5" rates (the order is asked), never names list number 5
    if rating:
        return Intent("rate", f" {rating.group(1)}")
    for name, pattern in _PATTERNS:
        match = pattern.match(cleaned)
        if match:
            arg = match.group(1).strip()
            if name in _LIFE_NAMES:
                rest = (match.group(2) or "").strip()
                return Intent(name, f"{arg.upper()} {rest}".strip())
            return Intent(name, arg.upper() if name in _UPPER else arg)
    if cleaned.endswith(_ASKING):  # "没修好吗", "开始了吗?": a question about an order, not a move
        return None
    for name, pattern in _WITHOUT_ORDER:
        match = pattern.match(cleaned)
        if match:
            rest = match.group(1).strip()
            return Intent(name, f" {rest}" if rest else "")
    return None
