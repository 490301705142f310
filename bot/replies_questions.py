"""The sentences of the open question: what the bot waits for, asking when it is not sure, zh and en.

Part of the one sentence table: ``bot.replies`` merges them. ``help_<step>`` and ``status_<step>`` exist for
every open question of ``bot.dialogue.next_step`` (a test holds them to each other), so the question asked,
"帮助" and "状态" cannot disagree.
"""

from __future__ import annotations

QUESTION_SENTENCES: dict[str, dict[str, str]] = {
    # -- help, by the open question --------------------------------------------------------------
    "help_location": {
        "zh": "我在等问题的位置：发送文字地址（如“3号楼2层东侧走廊”）或分享位置。\n也可以：回复数字或“类型 漏水”改类型，发新照片替换，发“取消”放弃。",
        "en": 'I am waiting for where the problem is: type the place (e.g. "Building 3, 2nd floor, east corridor") '
        'or share a location.\nYou can also reply a number or "type water leak" to change the type, send a new '
        'photo to replace it, or "cancel".',
    },
    "help_alarm_type": {
        "zh": "我在等问题的类型：点选下面的类型，或回复序号或类型名（如“漏水”）。发新照片替换，发“取消”放弃。",
        "en": 'I am waiting for the kind of problem: tap a type below, or reply its number or name (e.g. "water '
        'leak"). Send a new photo to replace it, or "cancel".',
    },
    "help_confirm": {
        "zh": "请核对上面的摘要：回复“确认”创建工单；发“位置 …”或“类型 漏水”更正；发新照片替换；发“取消”放弃。",
        "en": 'Check the summary above: reply "confirm" to create the order; send "place …" or "type water leak" '
        'to correct it; send a new photo to replace it; or "cancel".',
    },
    "help_place_check": {
        "zh": "我不确定你发的是不是位置：回复“是”用它作位置，“不是”则不用；发“取消”放弃。",
        "en": 'I was not sure that was the place: reply "yes" to use it as the place or "no" not to; or "cancel".',
    },
    "help_close_photo": {
        "zh": "我在等工单 {order_id} 修复后的现场照片。请直接发送照片，或发“取消”退出结单。",
        "en": 'I am waiting for a photo of the fixed site for order {order_id}. Send the photo, or "cancel".',
    },
    # -- status, by the open question ------------------------------------------------------------
    "status_location": {
        "zh": "正在报修（类型：{alarm_type}），等你告诉我位置。",
        "en": "Reporting a problem (type: {alarm_type}); waiting for its location.",
    },
    "status_alarm_type": {
        "zh": "正在报修，还差问题的类型。",
        "en": "Reporting a problem; the kind of problem is still missing.",
    },
    "status_confirm": {
        "zh": "正在报修，等你回复“确认”创建工单。",
        "en": 'Reporting a problem; waiting for you to reply "confirm".',
    },
    "status_place_check": {
        "zh": "正在报修，等你确认位置。",
        "en": "Reporting a problem; waiting for you to say whether that was the place.",
    },
    "status_close_photo": {
        "zh": "正在结单 {order_id}，等你发送修复后的现场照片。",
        "en": "Closing {order_id}; waiting for a photo of the fixed site.",
    },
    # -- not sure: ask ---------------------------------------------------------------------------
    "not_understood": {"zh": "没看懂这条消息。", "en": "I did not understand that."},
    # small talk: a word back, then the open question again
    "ack_wait": {"zh": "好的，不急，准备好了再回复我。", "en": "Sure, take your time."},
    "ack_thanks": {"zh": "不客气。", "en": "You're welcome."},
    "ack_got_it": {"zh": "好的。", "en": "OK."},
    "ack_greeting": {"zh": "你好！", "en": "Hi!"},
    "send_new_photo": {
        "zh": "直接发新照片就行，它会替换刚才那张；不想报了就发“取消”。",
        "en": "Just send the new photo: it replaces the one before. To drop the report, send “cancel”.",
    },
    "place_check_new": {
        "zh": "“{place}”是问题所在的位置吗？",
        "en": "Is “{place}” where the problem is?",
    },
    "place_check_change": {
        "zh": "要把位置改成“{place}”吗？（现在是：{current}）",
        "en": "Change the place to “{place}”? (Now: {current})",
    },
    "rough_is_fine": {
        "zh": "没关系，说个大概就行（比如楼号、附近的标志）；类型拿不准就选“其他”。",
        "en": "No problem: roughly is fine (a building, a landmark nearby); if unsure of the type, pick “other”.",
    },
    "place_kept": {"zh": "位置不变。", "en": "The place stays as it was."},
    "place_not_taken": {"zh": "好的，不用它作位置。", "en": "OK, I will not use that as the place."},
    "what_to_change": {
        "zh": "哪里需要改？点“改位置”或“改类型”，或直接发新照片；没问题就点“确认”。",
        "en": 'What should change? Tap "Change place" or "Change type", or send a new photo; if it is right, tap '
        '"Confirm".',
    },
    "type_which": {
        "zh": "那是什么问题？请点选类型（或回复序号）：\n{choices}",
        "en": "What kind of problem is it, then? Tap a type (or reply with its number):\n{choices}",
    },
    "type_still_needed": {
        "zh": "还差问题的类型：请点选类型（或回复序号、类型名）。",
        "en": "The kind of problem is still missing: tap a type (or reply its number or name).",
    },
    "choice_place_yes": {"zh": "是，就是这里", "en": "Yes, that's it"},
    "choice_place_no": {"zh": "不是", "en": "No"},
    "choice_change_place": {"zh": "改位置", "en": "Change place"},
    "choice_keep_place": {"zh": "保留 {place}", "en": "Keep {place}"},
    "choice_change_type": {"zh": "改类型", "en": "Change type"},
    # -- which order? ----------------------------------------------------------------------------
    "order_which": {
        "zh": "要查看哪一张工单？点选，或回复序号或工单号后5位。你的未结工单：\n{orders}",
        "en": "Which order? Tap it, or reply with its number or the last 5 characters of its id. Your open "
        "orders:\n{orders}",
    },
    "withdraw_which": {
        "zh": "要撤回哪一张工单？点选，或回复序号或工单号后5位。你的未结工单：\n{orders}",
        "en": "Which order do you want to withdraw? Tap it, or reply with its number or the last 5 characters "
        "of its id. Your open orders:\n{orders}",
    },
    "order_which_none": {
        "zh": "你没有未结的工单。查询其他工单请发“查工单 工单号”（或工单号后5位）。",
        "en": 'You have no open orders. To look one up, send "order <id>" (or the last 5 characters of its id).',
    },
    "claim_which": {
        "zh": "请发“认领 工单号”（或工单号后5位），或点值班群工单卡片上的“认领”。",
        "en": 'Send "claim <order id>" (or the last 5 characters of its id), or tap "Claim" on the duty card.',
    },
    "order_ref_unknown": {
        "zh": "找不到“{ref}”对应的工单。请发完整工单号，或先发“我的工单”再用序号。",
        "en": 'I cannot tell which order “{ref}” is. Send the full id, or "my orders" first and then its number.',
    },
    # -- order states said whole (never "已{status}": a status may start with 已) ----------------------
    "withdraw_not_open": {
        "zh": "工单 {order_id} 当前状态：{status}，无法撤回。",
        "en": "Order {order_id} is {status}; it cannot be withdrawn.",
    },
    "order_not_open": {
        "zh": "工单 {order_id} 当前状态：{status}，无需结单。",
        "en": "Order {order_id} is {status}; there is nothing to close.",
    },
    "order_cancelled_line": {"zh": "\n取消：{closed}", "en": "\nCancelled: {closed}"},
    "reason_withdrawn": {"zh": "报告人撤回", "en": "withdrawn by the reporter"},
    # -- why a flow ended ------------------------------------------------------------------------
    "reset_notice": {
        "zh": "值班人员重置了你之前的{flow}，未完成的内容已清除。需要的话请重新开始。",
        "en": "On-call ops reset your earlier {flow}; what was pending is gone. Please start again if needed.",
    },
    # -- how long ago, how long ------------------------------------------------------------------
    "ago_now": {"zh": "刚刚", "en": "just now"},
    "ago_minutes": {"zh": "{count} 分钟前", "en": "{count} min ago"},
    "ago_hours": {"zh": "{count} 小时前", "en": "{count} h ago"},
    "ago_days": {"zh": "{count} 天前", "en": "{count} days ago"},
    "span_seconds": {"zh": "{count} 秒", "en": "{count} s"},
    "span_minutes": {"zh": "{count} 分钟", "en": "{count} min"},
    "span_hours": {"zh": "{count} 小时", "en": "{count} h"},
}
