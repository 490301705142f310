"""How a reply with choices looks on each platform, and taps that are malformed get a 400 with a reason."""

from __future__ import annotations

import json
import time

import pytest
from defusedxml.ElementTree import fromstring
from slack_sdk.signature import SignatureVerifier

from bot.config import DEFAULT_ALARM_TYPES, Settings
from bot.messages import Choice, Reply, one_message
from bot.replies import say
from handlers.platforms import feishu_cards, slack, slack_blocks, wecom_cards
from handlers.platforms.base import Accepted, Ignored, Rejected, WebhookRequest

TYPES = [Choice(f"t0k3n.type={n}", name) for n, name in enumerate(DEFAULT_ALARM_TYPES["zh"], 1)]
CANCEL = Choice("t0k3n.cancel", "取消", "danger")
CONFIRM = Choice("t0k3n.confirm", "确认", "primary")
TYPE_QUESTION = "照片已收到。\n\n" + say(
    "zh", "ask_type", choices="\n".join(f"{n}. {c.label}" for n, c in enumerate(TYPES, 1))
)


def test_a_turn_is_one_message_with_the_last_buttons() -> None:
    merged = one_message([Reply("照片已收到。"), Reply("问题在哪里？", (CANCEL,))])
    assert merged == Reply("照片已收到。\n\n问题在哪里？", (CANCEL,))
    assert one_message([]) is None


def test_wecom_a_chinese_type_question_is_one_card_with_a_dropdown() -> None:
    reply = Reply(TYPE_QUESTION, (*TYPES, CANCEL))
    assert wecom_cards.fits(reply.text)
    card = wecom_cards.template_card(reply, "zh")
    assert card["main_title"]["title"] == "照片已收到。" and "1. 火情/烟雾" in card["sub_title_text"]
    assert [o["id"] for o in card["button_selection"]["option_list"]] == [c.id for c in TYPES]
    assert [b["key"] for b in card["button_list"]] == ["t0k3n.pick", "t0k3n.cancel"]
    assert card["task_id"].startswith("wobot-t0k3n-") and len(card["task_id"]) <= 128


def test_wecom_few_choices_are_buttons() -> None:
    card = wecom_cards.template_card(Reply("请核对工单信息：\n类型：漏水", (CONFIRM, CANCEL)), "zh")
    assert [(b["text"], b["style"], b["key"]) for b in card["button_list"]] == [
        ("确认", 1, "t0k3n.confirm"),
        ("取消", 3, "t0k3n.cancel"),
    ]
    assert "button_selection" not in card


def test_slack_many_choices_are_a_select_and_cancel_a_button() -> None:
    blocks = slack_blocks.blocks(Reply(TYPE_QUESTION, (*TYPES, CANCEL)), "zh")
    actions = blocks[-1]
    assert [e["type"] for e in actions["elements"]] == ["static_select", "button"]
    assert [o["value"] for o in actions["elements"][0]["options"]] == [c.id for c in TYPES]
    assert blocks[0]["text"] == {"type": "plain_text", "text": TYPE_QUESTION, "emoji": True}


def test_feishu_card_is_json_2_with_a_callback_per_button() -> None:
    card = feishu_cards.card(Reply("请核对", (CONFIRM, CANCEL)))
    assert card["schema"] == "2.0" and card["config"]["update_multi"] is True
    buttons = [e for e in card["body"]["elements"] if e["tag"] == "button"]
    assert [(b["type"], b["behaviors"][0]["value"]["choice"]) for b in buttons] == [
        ("primary", "t0k3n.confirm"),
        ("danger", "t0k3n.cancel"),
    ]


# -- malformed taps --------------------------------------------------------------------------------------------
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


def _slack_form(body: bytes) -> WebhookRequest:
    ts = str(int(time.time()))
    signature = SignatureVerifier(SECRET).generate_signature(timestamp=ts, body=body)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature,
    }
    return WebhookRequest("POST", body, headers)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"nothing-here", "not a form"),
        (b"a=1&b=2", "one payload"),
        (b"payload=%5B1%5D", "must be a JSON object"),
        (
            b"payload=" + json.dumps({"type": "block_actions", "actions": [{"action_id": "wobot-0"}]}).encode(),
            "without",
        ),
    ],
)
def test_slack_malformed_taps_are_400(body: bytes, reason: str) -> None:
    settings = Settings(slack_signing_secret=SECRET, slack_bot_token="xoxb-1")
    with pytest.raises(Rejected) as refused:
        slack.parse(settings, _slack_form(body))
    assert refused.value.status == 400 and reason in refused.value.reason


def test_slack_other_interactions_are_ignored() -> None:
    settings = Settings(slack_signing_secret=SECRET, slack_bot_token="xoxb-1")
    body = b"payload=" + json.dumps({"type": "view_submission"}).encode()
    assert isinstance(slack.parse(settings, _slack_form(body)), Ignored)


def test_feishu_tap_without_a_choice_is_400() -> None:
    header = {"event_id": "e1", "tenant_key": "t1"}
    event = {"operator": {"open_id": "ou_1"}, "action": {"value": {}}, "context": {"open_message_id": "om_1"}}
    with pytest.raises(Rejected, match="no choice"):
        feishu_cards.tap("zh", header, event)
    event["action"]["value"] = {"choice": "t0k3n.confirm", "label": "确认"}
    accepted = feishu_cards.tap("zh", header, event)
    assert isinstance(accepted, Accepted) and accepted.job.action == "t0k3n.confirm"
    assert accepted.answer is not None and "确认" in accepted.answer.body


def test_wecom_tap_without_a_key_is_400() -> None:
    msg = fromstring("<xml><MsgType>event</MsgType><Event>template_card_event</Event><TaskId>x</TaskId></xml>")
    with pytest.raises(Rejected, match="EventKey"):
        wecom_cards.tap("ww1", "zhangsan", msg)
