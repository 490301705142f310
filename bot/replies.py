"""Every user-facing sentence, in Chinese and English, in one place.

``say(lang, name, **values)`` formats one sentence. Tests assert on these names' texts
through ``say`` so a wording change is made here once.
"""

from __future__ import annotations

from bot.replies_life import LIFE_SENTENCES
from bot.replies_orders import ORDER_SENTENCES
from bot.replies_questions import QUESTION_SENTENCES
from bot.replies_reports import REPORT_SENTENCES
from bot.replies_sites import SITE_SENTENCES
from bot.replies_sla import SLA_SENTENCES
from bot.replies_voice import VOICE_SENTENCES

_SENTENCES: dict[str, dict[str, str]] = {
    # -- greetings and help ------------------------------------------------------------------
    "welcome": {
        "zh": "你好！拍一张现场问题的照片发给我即可报修；修好后再发一张现场照片，点选对应工单即可结单。发“帮助”查看全部指令。",
        "en": "Hi! Send me a photo of the problem to report it; when it is fixed, send a photo of the site and pick "
        'the order to close it. Send "help" for everything I can do.',
    },
    "help_idle": {
        "zh": "我可以：\n· 报修：直接发送现场照片\n· 结单：修好后发现场照片并点选工单（或发“结单 WO-…”再发照片）\n· 关联告警：发“告警 ALM-…”，下一次报修会关联它\n"
        "· 查询：“我的工单”、“查工单 WO-…”、“状态”\n· 撤回自己报的工单：“取消工单 WO-…”\n"
        "· 处理认领的工单：“开始 …”、“挂起 … 等配件”、“恢复 …”、“完成 …”再发照片、“转交 … @同事”、“退回 …”、“备注 … 内容”\n"
        "· 修好后确认：“已修好 …”，或“没修好 … 哪里还有问题”\n· 随时发“取消”回到开始",
        "en": "I can:\n· report: just send a photo of the problem\n· close: send a photo of the fixed site and pick "
        'the order (or "close WO-…", then the photo)\n· link an alarm: send "alarm ALM-…" and the next report '
        'is linked to it\n· look up: "my orders", "order WO-…", "status"\n· withdraw an order you reported: "cancel WO-…"\n'
        '· work an order you claimed: "start …", "hold … waiting for parts", "resume …", "done …" then the photo, '
        '"hand over … @someone", "unclaim …", "note … text"\n· after a fix: "fixed …", or "not fixed … what is wrong"\n'
        '· send "cancel" at any time to start over',
    },
    "unsupported_kind": {
        "zh": "我能理解文字、照片和位置。报修请发送现场照片，发“帮助”查看指令。",
        "en": 'I understand text, photos and locations. Send a photo to report a problem, or "help".',
    },
    "idle_text": {
        "zh": "报修请直接发送现场照片；结单请发修好后的现场照片（或“结单 WO-…”）。发“帮助”查看全部指令。",
        "en": 'To report a problem, send a photo; to close an order, send a photo of the fixed site (or "close '
        'WO-…"). Send "help" for more.',
    },
    # -- status ------------------------------------------------------------------------------
    "status_idle": {
        "zh": "当前没有进行中的报修或结单。{alarm}",
        "en": "Nothing in progress.{alarm}",
    },
    "status_alarm": {
        "zh": "已关联告警 {alarm_id}，将用于下一次报修。",
        "en": " Alarm {alarm_id} is linked to your next report.",
    },
    "timed_out": {
        "zh": "之前的{flow}因 {span}未操作已过期，需要的话请重新开始。",
        "en": "Your earlier {flow} timed out after {span} without a reply; please start again if needed.",
    },
    "flow_report": {"zh": "报修", "en": "report"},
    "flow_close": {"zh": "结单", "en": "order closing"},
    # -- cancel ------------------------------------------------------------------------------
    "cancelled": {"zh": "已取消，未完成的内容已清除。", "en": "Cancelled; nothing pending any more."},
    "nothing_to_cancel": {"zh": "当前没有进行中的操作。", "en": "There is nothing in progress to cancel."},
    # -- report ------------------------------------------------------------------------------
    "analysis": {
        "zh": "识别结果：{alarm_type}（严重程度：{severity}）\n{description}",
        "en": "I see: {alarm_type} (severity: {severity})\n{description}",
    },
    "ask_location": {
        "zh": "问题在哪里？请发送文字地址或分享位置。",
        "en": "Where is it? Type the place or share a location.",
    },
    "photo_replaced": {"zh": "已换成新照片。", "en": "Photo replaced."},
    "photo_added": {
        "zh": "已加入本次上报，共 {count} 张照片，一起识别。",
        "en": "Added to this report: {count} photos, analysed together.",
    },
    "photo_burst_waiting": {
        "zh": "照片已收到，等这组照片到齐后一起识别…",
        "en": "Photo received; I will analyse it with the others on their way…",
    },
    "photo_added_plain": {"zh": "已加入本次上报，共 {count} 张照片。", "en": "Added to this report: {count} photos."},
    "photos_over_limit": {
        "zh": "一次上报最多 {limit} 张照片，多出的 {count} 张没有加入。",
        "en": "A report holds at most {limit} photos; {count} more were not added.",
    },
    "photos_left_out": {
        "zh": "有 {count} 个文件不是能识别的照片，没有加入。",
        "en": "{count} of the files are not photos I can read, so they were not added.",
    },
    "video_not_photo": {
        "zh": "我看不了视频，请拍一张现场照片发给我。",
        "en": "I cannot watch videos. Please send a photo of the site instead.",
    },
    "photo_received": {"zh": "照片已收到。", "en": "Photo received."},
    "photo_being_analysed": {
        "zh": "照片已收到，正在识别，请稍候…",
        "en": "Got your photo; analysing it, one moment…",
    },
    "voice_being_transcribed": {
        "zh": "语音已收到，正在识别，请稍候…",
        "en": "Got your voice note; listening to it, one moment…",
    },
    "vlm_failed": {
        "zh": "图像识别暂时不可用，照片已保存。可以直接选类型，或点“重新识别”。",
        "en": 'Photo analysis is unavailable right now; your photo is saved. Pick the type, or tap "Retry".',
    },
    "ask_type": {
        "zh": "这是什么问题？请点选类型（或回复序号）：\n{choices}",
        "en": "What kind of problem is it? Tap a type (or reply with its number):\n{choices}",
    },
    "type_set": {"zh": "类型已设为：{alarm_type}", "en": "Type set to: {alarm_type}"},
    "type_unknown": {
        "zh": "没有这个类型。请点选类型（或回复序号）：\n{choices}",
        "en": "I don't know that type. Tap a type (or reply with its number):\n{choices}",
    },
    "need_type": {
        "zh": "还没有选择告警类型，请点选类型（或回复序号）：\n{choices}",
        "en": "The alarm type is not set yet. Tap a type (or reply with its number):\n{choices}",
    },
    "need_location": {
        "zh": "还差位置：请发送文字地址或分享位置。",
        "en": "I still need the location: type the place or share a location.",
    },
    "nothing_to_retry": {
        "zh": "没有待识别的照片。",
        "en": "There is no photo waiting to be analysed.",
    },
    # Only the fields that have values, one per line (bot.dialogue.flows.report.ReportFlow.show_summary).
    "summary": {
        "zh": "请核对工单信息：\n{fields}\n点“确认”创建工单，或直接发送更正（“位置 …”，或“类型 漏水”）。",
        "en": 'Please check:\n{fields}\nTap "Confirm" to create the order, or send a correction ("place …", '
        'or "type water leak").',
    },
    "summary_same": {"zh": "请核对工单信息：\n{fields}", "en": "Please check:\n{fields}"},
    "summary_type": {"zh": "类型：{value}", "en": "Type: {value}"},
    "summary_severity": {"zh": "严重程度：{value}", "en": "Severity: {value}"},
    "summary_description": {"zh": "描述：{value}", "en": "Description: {value}"},
    "summary_location": {"zh": "位置：{value}", "en": "Location: {value}"},
    "summary_alarm": {"zh": "关联告警：{value}", "en": "Linked alarm: {value}"},
    "order_created": {
        "zh": "工单已创建：{order_id}（{created}）\n修好后直接发送现场照片，选这张工单即可结单。",
        "en": "Work order created: {order_id} ({created})\nWhen it is fixed, send a photo of the site and pick this "
        "order to close it.",
    },
    "orders_down": {
        "zh": "工单系统暂时不可用，你的报修信息已保留。请稍后再回复“确认”。",
        "en": 'The work-order system is unavailable right now; your report is kept. Reply "confirm" again later.',
    },
    "alarm_linked": {
        "zh": "已关联告警 {alarm_id}。请发送现场照片开始报修。",
        "en": "Alarm {alarm_id} linked. Send a photo of the site to start the report.",
    },
    "alarm_linked_pending": {
        "zh": "已关联告警 {alarm_id}。",
        "en": "Alarm {alarm_id} linked.",
    },
    # -- photos ------------------------------------------------------------------------------
    "image_too_large": {
        "zh": "照片太大（上限 {limit_mb} MB），请压缩后重新发送。",
        "en": "That photo is too large (limit {limit_mb} MB); please send a smaller one.",
    },
    "not_image": {
        "zh": "这不是可识别的图片（支持 JPEG、PNG、WebP、GIF、HEIC），请重新拍照发送。",
        "en": "That is not a photo I can read (JPEG, PNG, WebP, GIF or HEIC); please send it again.",
    },
    "download_failed": {
        "zh": "照片没有收到完整，请再发一次。",
        "en": "The photo did not come through; please send it again.",
    },
    "storage_down": {
        "zh": "照片暂时无法保存，请稍后再发一次。",
        "en": "I cannot save photos right now; please send it again in a moment.",
    },
    # -- close -------------------------------------------------------------------------------
    "close_which": {
        "zh": "要结哪一张工单？点选，或回复序号（如“2”）或工单号后5位。你的未结工单：\n{orders}",
        "en": 'Which order? Tap it, or reply with its number (e.g. "2") or the last 5 characters of its id. '
        "Your open orders:\n{orders}",
    },
    "new_or_fix": {
        "zh": "照片已收到。这是新的报修，还是下面哪张工单修好后的照片？点选，或回复序号：\n{orders}",
        "en": "Photo received. Is this a new problem, or the fixed site of one of these orders? Tap, or reply "
        "with its number:\n{orders}",
    },
    "choice_closed": {
        "zh": "这个按钮已失效（已经处理过，或会话已更新）。",
        "en": "That button is no longer open (already answered, or the conversation has moved on).",
    },
    # a tapped card, redrawn without its buttons
    "card_picked": {"zh": "✓ 已选：{label}", "en": "✓ Chosen: {label}"},
    "card_closed": {"zh": "此按钮已失效", "en": "No longer open"},
    "tap_received": {"zh": "收到：{label}", "en": "Got it: {label}"},
    "not_your_card": {
        "zh": "这是发给别人的按钮，你点了不会有变化。要报修请 @我 并发照片。",
        "en": "Those buttons are for someone else; tapping them changes nothing. To report, mention me with a photo.",
    },
    "choose_placeholder": {"zh": "请选择…", "en": "Choose…"},
    # button labels (short: WeCom shows about ten characters)
    "choice_confirm": {"zh": "确认", "en": "Confirm"},
    "choice_cancel": {"zh": "取消", "en": "Cancel"},
    "choice_retry": {"zh": "重新识别", "en": "Retry"},
    "choice_new": {"zh": "新报修", "en": "New report"},
    "choice_order": {"zh": "{short} {what}", "en": "{short} {what}"},
    "close_which_none": {
        "zh": "请发“结单 工单号”，例如“结单 WO-20260101-ABCDE”。",
        "en": 'Send "close <order id>", for example "close WO-20260101-ABCDE".',
    },
    "order_not_found": {
        "zh": "找不到工单 {order_id}，请核对工单号。",
        "en": "I cannot find order {order_id}; please check the id.",
    },
    "withdrawn": {
        "zh": "工单 {order_id} 已取消（报告人撤回）。",
        "en": "Order {order_id} is cancelled (withdrawn by you, its reporter).",
    },
    "withdraw_not_reporter": {
        "zh": "只有报告人可以取消工单 {order_id}。如需撤销，请联系报告人或值班运维。",
        "en": "Only the person who reported {order_id} can cancel it; ask them or the on-call ops team.",
    },
    "ask_close_photo": {
        "zh": "请发送工单 {order_id}（{alarm_type}，{location}）修复后的现场照片。",
        "en": "Send a photo of the fixed site for order {order_id} ({alarm_type}, {location}).",
    },
    "close_same_photo": {
        "zh": "这张和报修时的照片是同一张。请到现场拍一张修复后的照片发给我。",
        "en": "That is the same photo as the report. Please take a new photo of the fixed site.",
    },
    "close_resolved": {
        "zh": "工单 {order_id} 已结单。核验结果：{reason}",
        "en": "Order {order_id} is closed. Check: {reason}",
    },
    "close_unverified": {
        "zh": "工单 {order_id} 已结单（未配置图像核验，照片已存档）。",
        "en": "Order {order_id} is closed (no photo check configured; the photo is on file).",
    },
    "close_not_resolved": {
        "zh": "照片显示问题还没有解决：{reason}\n可以再发一张照片，或发“取消”退出结单。",
        "en": 'The photo suggests the problem is not fixed yet: {reason}\nSend another photo, or "cancel".',
    },
    "close_vlm_failed": {
        "zh": "图像核验暂时不可用，请稍后再发一次照片，或发“取消”退出结单。",
        "en": 'The photo check is unavailable right now; send the photo again in a moment, or "cancel".',
    },
    "close_original_missing": {
        "zh": "找不到工单 {order_id} 的报修照片，暂时无法核验。请联系值班人员。",
        "en": "The report photo of {order_id} is missing, so I cannot check the fix. Please contact ops.",
    },
    "close_race": {
        "zh": "工单 {order_id} 刚刚已被处理（{status}）。",
        "en": "Order {order_id} was just handled by someone else ({status}).",
    },
    "expect_close_photo": {
        "zh": "我在等工单 {order_id} 修复后的照片。请发送照片，或发“取消”退出结单。",
        "en": 'I am waiting for a photo of the fixed site for {order_id}. Send it, or "cancel".',
    },
    "finish_first": {
        "zh": "你还有一个进行中的{flow}。请先完成，或发“取消”后再开始新的。",
        "en": 'You have a {flow} in progress. Finish it, or send "cancel" first.',
    },
    # -- lookups -----------------------------------------------------------------------------
    "my_orders": {"zh": "你的未结工单：\n{orders}", "en": "Your open orders:\n{orders}"},
    "my_orders_none": {"zh": "你没有未结的工单。", "en": "You have no open orders."},
    "order_status": {
        "zh": "工单 {order_id}：{status}\n类型：{alarm_type}\n位置：{location}\n创建：{created}{closed}",
        "en": "Order {order_id}: {status}\nType: {alarm_type}\nLocation: {location}\nCreated: {created}{closed}",
    },
    "order_closed_line": {"zh": "\n结单：{closed}", "en": "\nClosed: {closed}"},
    "order_closed_reason": {"zh": "（{reason}）", "en": " ({reason})"},
    "status_open": {"zh": "处理中", "en": "open"},
    "status_closed": {"zh": "已结单", "en": "closed"},
    "status_cancelled": {"zh": "已取消", "en": "cancelled"},
    "severity_low": {"zh": "低", "en": "low"},
    "severity_medium": {"zh": "中", "en": "medium"},
    "severity_high": {"zh": "高", "en": "high"},
    "unknown": {"zh": "未定", "en": "not set"},
    # -- failures and ops --------------------------------------------------------------------
    "internal_error": {
        "zh": "抱歉，刚才出了点问题，你的进度已保留。请再发一次。",
        "en": "Sorry, something went wrong; your progress is kept. Please send that again.",
    },
    "reset_by_ops": {
        "zh": "值班人员已重置你的会话，可以重新开始了。",
        "en": "Ops have reset your conversation; you can start again.",
    },
}


_SENTENCES.update(ORDER_SENTENCES)
_SENTENCES.update(QUESTION_SENTENCES)
_SENTENCES.update(VOICE_SENTENCES)
_SENTENCES.update(SITE_SENTENCES)
_SENTENCES.update(SLA_SENTENCES)
_SENTENCES.update(LIFE_SENTENCES)
_SENTENCES.update(REPORT_SENTENCES)

# Reasons stored in English on an order (they reach the events and the admin page as they are), said in the
# user's language when the order is shown in a chat. Others (what ops typed) are shown as written.
WITHDRAWN_REASON = "cancelled by reporter"
_REASONS = {WITHDRAWN_REASON: "reason_withdrawn"}


def reason_text(lang: str, reason: str) -> str:
    """A stored cancel reason as the user reads it."""
    name = _REASONS.get(reason)
    return say(lang, name) if name else reason


def say(lang: str, name: str, **values: object) -> str:
    """One sentence in ``lang`` (falling back to zh), formatted with ``values``."""
    texts = _SENTENCES[name]
    return texts.get(lang, texts["zh"]).format(**values)


def ago(lang: str, seconds: float) -> str:
    """ "刚刚" under a minute, then minutes, hours, days."""
    minutes = int(seconds // 60)
    if minutes < 1:
        return say(lang, "ago_now")
    if minutes < 60:
        return say(lang, "ago_minutes", count=minutes)
    if minutes < 48 * 60:
        return say(lang, "ago_hours", count=minutes // 60)
    return say(lang, "ago_days", count=minutes // (24 * 60))


def span(lang: str, seconds: float) -> str:
    """A length of time as a setting gives it: "45 秒", "10 分钟", "2 小时" (rounded down, never 0)."""
    whole = max(1, int(seconds))
    if whole < 60 or whole % 60:
        return say(lang, "span_seconds", count=whole) if whole < 120 else say(lang, "span_minutes", count=whole // 60)
    if whole < 3600 or whole % 3600:
        return say(lang, "span_minutes", count=whole // 60)
    return say(lang, "span_hours", count=whole // 3600)


def catalogue() -> dict[str, dict[str, str]]:
    """Every sentence by name and language (for checks that each has both languages)."""
    return {name: dict(texts) for name, texts in _SENTENCES.items()}
