"""The sentences of the digest of figures posted to chats (``bot.reports.digest``), zh and en.

Part of the one sentence table: ``bot.replies`` merges them, and ``say`` is still the way to read one.
"""

from __future__ import annotations

REPORT_SENTENCES: dict[str, dict[str, str]] = {
    "digest_title_day": {"zh": "📊 工单日报 {period}", "en": "📊 Daily work-order digest {period}"},
    "digest_title_week": {"zh": "📊 工单周报 {period}", "en": "📊 Weekly work-order digest {period}"},
    "digest_scope": {"zh": "范围：{value}", "en": "Scope: {value}"},
    "digest_before": {"zh": "括号内为上一期（{period}）", "en": "In brackets: the period before ({period})"},
    "digest_volume": {
        "zh": "新建 {created}（{created_before}）· 解决 {resolved}（{resolved_before}）· 结单 {closed}（{closed_before}）",
        "en": "Created {created} ({created_before}) · resolved {resolved} ({resolved_before}) · closed {closed} "
        "({closed_before})",
    },
    "digest_times": {
        "zh": "认领用时中位数 {claim}（{claim_before}）· 修复用时中位数 {fix}（{fix_before}）",
        "en": "Median time to claim {claim} ({claim_before}) · to fix {fix} ({fix_before})",
    },
    "digest_sla": {
        "zh": "认领超时 {claim}（{claim_before}）· 修复超时 {resolve}（{resolve_before}）",
        "en": "Claim SLA breached {claim} ({claim_before}) · resolution SLA breached {resolve} ({resolve_before})",
    },
    "digest_quality": {
        "zh": "返修率 {reopen}（{reopen_before}）· 未完成 {backlog} 单",
        "en": "Reopened {reopen} ({reopen_before}) · {backlog} open now",
    },
    "digest_breaching": {"zh": "当前超时 {count} 单：", "en": "Breaching now, {count}:"},
    "digest_breaching_one": {"zh": "· {order_id} {what}，超出 {over}", "en": "· {order_id} {what}, over by {over}"},
    "digest_breaching_more": {"zh": "……另有 {count} 单", "en": "… and {count} more"},
    "digest_breach_claim": {"zh": "未按时认领", "en": "not claimed in time"},
    "digest_breach_resolve": {"zh": "未按时修复", "en": "not fixed in time"},
    "digest_none_breaching": {"zh": "当前没有超时工单。", "en": "No order is past its target now."},
    "digest_chart": {"zh": "近 7 天每日新建与解决", "en": "Created and resolved per day, last 7 days"},
    "digest_created": {"zh": "新建", "en": "created"},
    "digest_resolved": {"zh": "解决", "en": "resolved"},
    "span_minutes": {"zh": "{count} 分钟", "en": "{count} min"},
    "span_hours": {"zh": "{hours} 小时 {minutes} 分", "en": "{hours} h {minutes} min"},
    "span_days": {"zh": "{days} 天 {hours} 小时", "en": "{days} d {hours} h"},
}
