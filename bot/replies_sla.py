"""The sentences of the resolution SLA (the assignee's reminder, the supervisors' escalation), zh and en.

Part of the one sentence table: ``bot.replies`` merges them, and ``say`` is still the way to read one.
"""

from __future__ import annotations

SLA_SENTENCES: dict[str, dict[str, str]] = {
    "sla_reminder": {
        "zh": "⏰ 工单 {order_id}（{alarm_type}）快到处理时限了：已用 {used} 小时，时限 {limit} 小时（按工作时间计，挂起不计）。完成后请拍照结单。",
        "en": "⏰ Work order {order_id} ({alarm_type}) is nearly due: {used} of {limit} hours used (business hours; time on hold does not count). Send a photo of the fix to close it.",
    },
    "sla_escalation_title": {
        "zh": "🚨 超时未解决（第 {count} 次升级）{order_id}：{alarm_type}",
        "en": "🚨 Not resolved in time (escalation {count}) {order_id}: {alarm_type}",
    },
    "sla_escalation_line": {
        "zh": "处理人：{who}（{at} 认领）；已用 {used} 小时，时限 {limit} 小时（按工作时间计，挂起不计）",
        "en": "Assignee: {who} (claimed {at}); {used} of {limit} hours used (business hours; time on hold does not count)",
    },
}
