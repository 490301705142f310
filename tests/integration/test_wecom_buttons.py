"""WeCom template cards end to end: the bot's ``button_interaction`` card on a local fake WeCom, tapped
back as WeCom sends ``template_card_event`` (encrypted XML with EventKey, TaskId, ResponseCode and, for a
dropdown, SelectedItems — fields as PLATFORMS.md §4.3 lists them; encrypted and signed with wechatpy),
through the real app on real Redis."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from bot.config import DEFAULT_ALARM_TYPES, Settings
from bot.replies import say
from tests.fakes.platform_servers import FakeWeCom
from tests.integration.test_wecom import AGENT, CORP, USER, WeComClient, wecom_settings
from tests.support.engine import photo
from tests.support.live import live_app, order_id_in

# a tap no longer open, in idle: said so, then what the bot can do (one message)
STALE_IN_IDLE = say("en", "choice_closed") + "\n\n" + say("en", "idle_text")

pytestmark = pytest.mark.integration

CONFIRM, CANCEL = say("en", "choice_confirm"), say("en", "choice_cancel")


@pytest.fixture
def wecom() -> Iterator[FakeWeCom]:
    with FakeWeCom(corp_id=CORP, secret="wecom-secret") as server:
        yield server


@pytest.fixture
def client(settings: Settings, wecom: FakeWeCom, real_store: Any, orders: Any, storage: Any) -> Iterator[WeComClient]:
    with live_app(wecom_settings(settings, wecom), store=real_store, orders=orders, storage=storage) as live:
        yield WeComClient(live)


def card(wecom: FakeWeCom) -> dict:
    return copy.deepcopy(wecom.cards(USER)[-1])


def labels(template_card: dict) -> list[str]:
    options = (template_card.get("button_selection") or {}).get("option_list") or []
    return [o["text"] for o in options] + [b["text"] for b in template_card["button_list"]]


_codes = iter(range(1, 1_000_000))


def tap(client: WeComClient, wecom: FakeWeCom, label: str, template_card: dict | None = None, user: str = USER) -> Any:
    """Tap ``label`` on the last card (or ``template_card``): a button, or a dropdown option then its submit."""
    template_card = template_card or card(wecom)
    options = {o["text"]: o["id"] for o in (template_card.get("button_selection") or {}).get("option_list", [])}
    keys = {b["text"]: b["key"] for b in template_card["button_list"]}
    if label in options:
        key = next(k for k in keys.values() if k.endswith(".pick"))
        selected = (
            "<SelectedItems><SelectedItem><QuestionKey><![CDATA[choice]]></QuestionKey>"
            f"<OptionIds><OptionId><![CDATA[{options[label]}]]></OptionId></OptionIds></SelectedItem></SelectedItems>"
        )
    else:
        key, selected = keys[label], ""
    client._now += 1
    xml = (
        f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><FromUserName><![CDATA[{user}]]></FromUserName>"
        f"<CreateTime>{client._now}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        f"<Event><![CDATA[template_card_event]]></Event><EventKey><![CDATA[{key}]]></EventKey>"
        f"<TaskId><![CDATA[{template_card['task_id']}]]></TaskId><CardType><![CDATA[button_interaction]]></CardType>"
        f"<ResponseCode><![CDATA[rc-{next(_codes)}]]></ResponseCode><AgentID>{AGENT}</AgentID>{selected}</xml>"
    )
    return client.post_plain(xml)


def test_report_and_close_by_taps(client: WeComClient, wecom: FakeWeCom, orders: Any) -> None:
    wecom.add_media("M1", photo(1))
    client.image("M1")
    types = card(wecom)
    assert labels(types) == [*DEFAULT_ALARM_TYPES["en"], CONFIRM, CANCEL]  # seven types: a dropdown and submit
    # The English question and its list are longer than the 112 characters a card shows: the text goes
    # first, the card carries the question (in Chinese it fits on the card: one message, see the unit test).
    assert [m["msgtype"] for m in wecom.sent(USER)] == ["text", "template_card"]

    answer = tap(client, wecom, "water leak")
    assert (answer.status, answer.body) == (200, b"")
    assert wecom.card_updates[-1]["button"]["replace_name"] == say("en", "card_picked", label="water leak")
    assert wecom.sent_texts(USER)[-1].endswith(say("en", "ask_location"))

    client.text("Gate 4, pump room")
    assert labels(card(wecom)) == [CONFIRM, CANCEL] and "Gate 4" in "\n".join(wecom.sent_texts(USER)[-2:])
    tap(client, wecom, CONFIRM)
    order_id = order_id_in(wecom.sent_texts(USER))
    assert orders.get(order_id).status == "open"

    wecom.add_media("M2", photo(2))
    client.image("M2")  # the fixed site, without typing "close" first
    tap(client, wecom, say("en", "choice_order", short=order_id[-5:], what="water leak"))
    assert orders.get(order_id).status == "closed"
    assert wecom.sent_texts(USER)[-1] == say("en", "close_unverified", order_id=order_id)


def test_a_double_tap_makes_one_order(client: WeComClient, wecom: FakeWeCom, orders: Any) -> None:
    wecom.add_media("M1", photo(1))
    client.image("M1")
    tap(client, wecom, "water leak")
    client.text("Gate 4")
    summary = card(wecom)
    tap(client, wecom, CONFIRM, summary)
    tap(client, wecom, CONFIRM, summary)
    assert orders.counts()["open"] == 1
    assert wecom.sent_texts(USER)[-1] == STALE_IN_IDLE
    assert wecom.card_updates[-1]["button"]["replace_name"] == say("en", "card_closed")


def test_a_stale_tap_after_cancel_changes_nothing(client: WeComClient, wecom: FakeWeCom) -> None:
    wecom.add_media("M1", photo(1))
    client.image("M1")
    types = card(wecom)
    client.text("cancel")
    tap(client, wecom, "water leak", types)
    assert wecom.sent_texts(USER)[-1] == STALE_IN_IDLE
    client.text("status")
    assert wecom.sent_texts(USER)[-1] == say("en", "status_idle", alarm="")


def test_a_submit_without_a_pick_is_answered(client: WeComClient, wecom: FakeWeCom) -> None:
    wecom.add_media("M1", photo(1))
    client.image("M1")
    types = card(wecom)
    types["button_selection"]["option_list"] = []  # the user tapped the submit button without choosing
    tap(client, wecom, CONFIRM, types)
    assert say("en", "choice_closed") in "\n".join(wecom.sent_texts(USER)[-2:])
    assert labels(card(wecom)) == labels(wecom.cards(USER)[0])  # the question is asked again
