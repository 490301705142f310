"""The sentences of the order's life (duty cards, claims, escalations, duplicate reports), zh and en.

Part of the one sentence table: ``bot.replies`` merges them, and ``say`` is still the way to read one.
"""

from __future__ import annotations

ORDER_SENTENCES: dict[str, dict[str, str]] = {
    # -- the duty card -------------------------------------------------------------------------
    "duty_title": {"zh": "新工单 {order_id}：{alarm_type}", "en": "New work order {order_id}: {alarm_type}"},
    "duty_title_overdue": {
        "zh": "⚠️ 超时未认领（第 {count} 次提醒）{order_id}：{alarm_type}",
        "en": "⚠️ Unclaimed, overdue (reminder {count}) {order_id}: {alarm_type}",
    },
    "duty_severity": {"zh": "严重程度：{value}", "en": "Severity: {value}"},
    "duty_description": {"zh": "描述：{value}", "en": "Description: {value}"},
    "duty_note": {"zh": "报修人说：{value}", "en": "Reporter says: {value}"},
    "duty_location": {"zh": "位置：{value}", "en": "Location: {value}"},
    "duty_map": {"zh": "地图：{value}", "en": "Map: {value}"},
    "duty_reporter": {"zh": "报修人：{value}", "en": "Reported by: {value}"},
    "duty_reported_at": {"zh": "报修时间：{value}", "en": "Reported: {value}"},
    "duty_also_reported": {"zh": "同一问题还有 {count} 人报修：{value}", "en": "Also reported by {count}: {value}"},
    "duty_photos": {"zh": "照片 {count} 张", "en": "{count} photo(s)"},
    "duty_unclaimed": {
        "zh": "待认领：点“认领”，或私聊我发“认领 {order_id}”。",
        "en": 'Waiting for someone: tap "Claim", or send me "claim {order_id}".',
    },
    "duty_claimed": {"zh": "✅ 已由 {who} 认领（{at}）", "en": "✅ Claimed by {who} ({at})"},
    "duty_closed": {"zh": "✔️ 已结单：{who}（{at}）", "en": "✔️ Closed by {who} ({at})"},
    "duty_cancelled": {"zh": "✖️ 已取消：{reason}", "en": "✖️ Cancelled: {reason}"},
    "choice_claim": {"zh": "认领", "en": "Claim"},
    # -- claims --------------------------------------------------------------------------------
    "claim_won": {
        "zh": "工单 {order_id} 已由你认领。修好后发现场照片并点选这张工单即可结单。",
        "en": "You have claimed {order_id}. When it is fixed, send a photo of the site and pick this order to "
        "close it.",
    },
    "claim_taken": {"zh": "工单 {order_id} 已由 {who} 认领。", "en": "{order_id} is already claimed by {who}."},
    "claim_not_open": {
        "zh": "工单 {order_id} 当前状态：{status}，无需认领。",
        "en": "{order_id} is {status}; there is nothing to claim.",
    },
    "claim_unknown": {"zh": "没有找到工单 {order_id}。", "en": "There is no order {order_id}."},
    "tell_reporter_claimed": {
        "zh": "你报修的工单 {order_id}（{alarm_type}）已由 {who} 认领处理。",
        "en": "{who} is on your order {order_id} ({alarm_type}).",
    },
    "tell_reporter_closed": {
        "zh": "你报修的工单 {order_id}（{alarm_type}）已由 {who} 结单。",
        "en": "Your order {order_id} ({alarm_type}) was closed by {who}.",
    },
    "tell_reporter_cancelled": {
        "zh": "你报修的工单 {order_id}（{alarm_type}）已取消：{reason}",
        "en": "Your order {order_id} ({alarm_type}) was cancelled: {reason}",
    },
    "tell_assignee_more": {
        "zh": "你认领的工单 {order_id} 又有人报修同一问题：{who}（照片已加入工单）。",
        "en": "{who} reported the same problem as your order {order_id} (their photo is on the order now).",
    },
    # -- duplicate reports ---------------------------------------------------------------------
    "same_problem": {
        "zh": "这看起来和工单 {order_id} 是同一个问题（{place}，{ago}报修，照片 {photos} 张）。是同一个吗？\n"
        "点“同一个”（或回复“同一个”）把你的照片加到该工单，点“新建工单”（或回复“确认”）仍新建，或“取消”。",
        "en": "This looks like {order_id} ({place}, reported {ago}, {photos} photo(s)). Same problem?\n"
        'Tap "Same" (or reply "same") to add your photo to it, "New order" (or reply "confirm") to make a new '
        'one anyway, or "cancel".',
    },
    "choice_same": {"zh": "同一个，加上我的照片", "en": "Same — add my photo"},
    "choice_new_order": {"zh": "新建工单", "en": "New order"},
    "joined_order": {
        "zh": "已把你的照片加到工单 {order_id}，不另建工单。处理人会看到你的报修。",
        "en": "Your photo is on {order_id} now; no new order was made. Whoever handles it will see your report.",
    },
    "same_gone": {
        "zh": "工单 {order_id} 已不再处理中，请回复“确认”新建工单。",
        "en": '{order_id} is no longer open: reply "confirm" to make a new order.',
    },
    "place_unknown": {"zh": "位置未知", "en": "place unknown"},
}
