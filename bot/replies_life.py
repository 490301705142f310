"""The sentences of the order's life after the claim (``bot.orders.life``), zh and en. ``bot.replies`` merges them."""

from __future__ import annotations

LIFE_SENTENCES: dict[str, dict[str, str]] = {
    # -- statuses as people read them ---------------------------------------------------------------------
    "life_open": {"zh": "待认领", "en": "waiting for someone"},
    "life_claimed": {"zh": "已认领", "en": "claimed"},
    "life_in_progress": {"zh": "处理中", "en": "in progress"},
    "life_on_hold": {"zh": "已挂起", "en": "on hold"},
    "life_resolved": {"zh": "待确认", "en": "resolved, waiting for the reporter"},
    "life_closed": {"zh": "已结单", "en": "closed"},
    "life_cancelled": {"zh": "已取消", "en": "cancelled"},
    "hold_parts": {"zh": "等配件", "en": "waiting for parts"},
    "hold_access": {"zh": "进不去现场", "en": "no access"},
    "hold_other": {"zh": "其他", "en": "other"},
    # -- the person who moved it ----------------------------------------------------------------------------
    "did_start": {"zh": "工单 {order_id} 已开始处理。", "en": "{order_id} is in progress."},
    "did_hold": {"zh": "工单 {order_id} 已挂起：{reason}。", "en": "{order_id} is on hold: {reason}."},
    "did_resume": {"zh": "工单 {order_id} 已恢复处理。", "en": "{order_id} is in progress again."},
    "did_hand_over": {"zh": "工单 {order_id} 已转交给 {who}。", "en": "{order_id} is now {who}'s."},
    "did_take_over": {"zh": "工单 {order_id} 现在由你负责。", "en": "{order_id} is yours now."},
    "did_unclaim": {"zh": "工单 {order_id} 已退回待认领。", "en": "{order_id} is back in the pool."},
    "did_confirm": {"zh": "谢谢确认，工单 {order_id} 已结单。", "en": "Thanks — {order_id} is closed."},
    "did_reopen": {
        "zh": "工单 {order_id} 已重新打开，已告知处理人。",
        "en": "{order_id} is open again; the assignee has been told.",
    },
    "did_note": {"zh": "已给工单 {order_id} 添加备注。", "en": "Note added to {order_id}."},
    "did_rate": {"zh": "谢谢评价！", "en": "Thanks for the rating!"},
    "done_send_photo": {
        "zh": "请在和我的私聊里回复“完成 {short}”，再发一张修好后的现场照片来完成工单 {order_id}。",
        "en": "In your chat with me, write “done {short}”, then send a photo of the fixed site to finish {order_id}.",
    },
    "resolved_wait": {
        "zh": "工单 {order_id} 已完成，等待报修人确认（{hours} 小时内未答复将自动结单）。",
        "en": "{order_id} is resolved; the reporter is asked to confirm (closed by itself after {hours} h).",
    },
    # -- refusals -------------------------------------------------------------------------------------------
    "refuse_who": {
        "zh": "工单 {order_id} 的这一步只有{roles}可以操作。",
        "en": "Only {roles} may do that to {order_id}.",
    },
    "refuse_state": {
        "zh": "工单 {order_id} 现在是“{status}”，不能{action}。",
        "en": "{order_id} is {status}: it cannot be {action} now.",
    },
    "refuse_unknown": {"zh": "找不到工单 {order_id}。", "en": "No order {order_id}."},
    "life_which": {"zh": "请带上工单号，例如“{example}”。", "en": "Please add the order id, e.g. “{example}”."},
    # a move typed without its order: which one? (the orders that person may make it on)
    "life_which_order": {
        "zh": "要{verb}的是哪一张工单？点选，或回复序号或工单号后5位：\n{orders}",
        "en": "Which order do you want to {verb}? Tap it, or reply with its number or the last 5 characters of its "
        "id:\n{orders}",
    },
    "life_none": {
        "zh": "你现在没有可以{verb}的工单。要操作别的工单，请带上工单号，例如“{example}”。",
        "en": "You have no order to {verb} now. To name one, add its id, e.g. “{example}”.",
    },
    "verb_start": {"zh": "开始处理", "en": "start"},
    "verb_hold": {"zh": "挂起", "en": "put on hold"},
    "verb_resume": {"zh": "恢复处理", "en": "resume"},
    "verb_hand_over": {"zh": "转交", "en": "hand over"},
    "verb_take_over": {"zh": "接手", "en": "take over"},
    "verb_unclaim": {"zh": "退回", "en": "give back"},
    "verb_add_order_note": {"zh": "加备注", "en": "add the note to"},
    "verb_confirm_fixed": {"zh": "确认修好", "en": "confirm as fixed"},
    "verb_reopen": {"zh": "反馈没修好", "en": "report as not fixed"},
    "verb_rate": {"zh": "评分", "en": "rate"},
    "example_start": {"zh": "开始 {short}", "en": "start {short}"},
    "example_hold": {"zh": "挂起 {short} 等配件", "en": "hold {short} waiting for parts"},
    "example_resume": {"zh": "恢复 {short}", "en": "resume {short}"},
    "example_hand_over": {"zh": "转交 {short} @同事", "en": "hand over {short} @someone"},
    "example_take_over": {"zh": "接手 {short}", "en": "take over {short}"},
    "example_unclaim": {"zh": "退回 {short}", "en": "unclaim {short}"},
    "example_add_order_note": {"zh": "备注 {short} …", "en": "note {short} …"},
    "example_confirm_fixed": {"zh": "已修好 {short}", "en": "fixed {short}"},
    "example_reopen": {"zh": "没修好 {short} 还在漏水", "en": "not fixed {short} still leaking"},
    "example_rate": {"zh": "评分 {short} 5", "en": "rate {short} 5"},
    "hand_over_whom": {
        "zh": "转交给谁？请写“转交 {order_id} @同事”。",
        "en": "Hand it to whom? Write “hand over {order_id} @someone”.",
    },
    "rating_bad": {"zh": "评分请写 1 到 5。", "en": "A rating is 1 to 5."},
    "role_assignee": {"zh": "处理人", "en": "the assignee"},
    "role_reporter": {"zh": "报修人", "en": "the reporter"},
    "role_duty": {"zh": "值班群成员", "en": "the duty chat"},
    "role_ops": {"zh": "运维", "en": "ops"},
    "role_bot": {"zh": "系统", "en": "the bot"},
    "act_claim": {"zh": "认领", "en": "claimed"},
    "act_start": {"zh": "开始", "en": "started"},
    "act_hold": {"zh": "挂起", "en": "put on hold"},
    "act_resume": {"zh": "恢复", "en": "resumed"},
    "act_resolve": {"zh": "完成", "en": "resolved"},
    "act_hand_over": {"zh": "转交", "en": "handed over"},
    "act_take_over": {"zh": "接手", "en": "taken over"},
    "act_unclaim": {"zh": "退回", "en": "unclaimed"},
    "act_confirm": {"zh": "确认修好", "en": "confirmed"},
    "act_reopen": {"zh": "重新打开", "en": "reopened"},
    "act_auto_confirm": {"zh": "自动结单", "en": "auto-confirmed"},
    "act_close": {"zh": "结单", "en": "closed"},
    "act_withdraw": {"zh": "撤回", "en": "withdrawn"},
    "act_cancel": {"zh": "取消", "en": "cancelled"},
    "act_note": {"zh": "备注", "en": "noted"},
    "act_rate": {"zh": "评价", "en": "rated"},
    # -- the reporter hears of every change (one short message each) ----------------------------------------
    "tell_started": {
        "zh": "你报修的 {order_id}（{alarm_type}）{who} 已开始处理。",
        "en": "{who} started on {order_id} ({alarm_type}).",
    },
    "tell_on_hold": {
        "zh": "你报修的 {order_id}（{alarm_type}）暂时挂起：{reason}。",
        "en": "{order_id} ({alarm_type}) is on hold: {reason}.",
    },
    "tell_resumed": {
        "zh": "你报修的 {order_id}（{alarm_type}）已恢复处理。",
        "en": "Work on {order_id} ({alarm_type}) resumed.",
    },
    "tell_handed_over": {
        "zh": "你报修的 {order_id}（{alarm_type}）已转交 {who} 处理。",
        "en": "{order_id} ({alarm_type}) is now with {who}.",
    },
    "tell_unclaimed": {
        "zh": "你报修的 {order_id}（{alarm_type}）已退回值班群，等待他人认领。",
        "en": "{order_id} ({alarm_type}) went back to the duty chat for someone else to take.",
    },
    "tell_resolved": {
        "zh": "你报修的 {order_id}（{alarm_type}）{who} 已处理完成。修好了吗？\n回复“已修好 {short}”确认，"
        "或“没修好 {short} 还有什么问题”（也可以再发照片）。{hours} 小时内未答复将自动结单。",
        "en": "{who} has fixed {order_id} ({alarm_type}). Is it fixed?\nReply “fixed {short}” to confirm, or "
        "“not fixed {short} what is still wrong” (a photo helps). Without an answer it closes in {hours} h.",
    },
    "tell_confirmed_rate": {
        "zh": "如愿意，可回复“评分 {short} 1-5”给这次维修打分。",
        "en": "If you like, rate the repair: “rate {short} 1-5”.",
    },
    "tell_assignee_reopened": {
        "zh": "工单 {order_id}（{alarm_type}）被报修人重新打开：{reason}",
        "en": "The reporter reopened {order_id} ({alarm_type}): {reason}",
    },
    "tell_assignee_handed": {
        "zh": "{who} 把工单 {order_id}（{alarm_type}）转交给了你。",
        "en": "{who} handed {order_id} ({alarm_type}) to you.",
    },
    "tell_assignee_note": {
        "zh": "工单 {order_id} 有新备注（{who}）：{text}",
        "en": "New note on {order_id} from {who}: {text}",
    },
    "reopen_ask": {
        "zh": "还有什么问题？请回复“没修好 {short} 还在漏水”这样一句话，或发一张照片。",
        "en": "What is still wrong? Reply like “not fixed {short} still leaking”, or send a photo.",
    },
    # -- the duty card ------------------------------------------------------------------------------------
    "duty_started": {"zh": "🔧 {who} 处理中（{at}）", "en": "🔧 In progress: {who} ({at})"},
    "duty_on_hold": {"zh": "⏸ {who} 已挂起：{reason}（{at}）", "en": "⏸ On hold by {who}: {reason} ({at})"},
    "duty_resolved": {
        "zh": "🟢 {who} 已完成，待报修人确认（{at}）",
        "en": "🟢 Resolved by {who}, waiting for the reporter ({at})",
    },
    "duty_reopened": {"zh": "（报修人已重新打开 {count} 次）", "en": "(reopened by the reporter {count}×)"},
    "choice_start": {"zh": "开始", "en": "Start"},
    "choice_hold_parts": {"zh": "挂起：等配件", "en": "Hold: parts"},
    "choice_hold_access": {"zh": "挂起：进不去", "en": "Hold: no access"},
    "choice_resume": {"zh": "恢复", "en": "Resume"},
    "choice_done": {"zh": "完成", "en": "Done"},
    "choice_hand_over": {"zh": "转交", "en": "Hand over"},
    "choice_unclaim": {"zh": "退回", "en": "Unclaim"},
    "hand_over_how": {
        "zh": "请在和我的私聊里写“转交 {order_id} @同事”（企业微信写同事的账号）。",
        "en": "In your chat with me, write “hand over {order_id} @someone” (WeCom: their user id).",
    },
}
