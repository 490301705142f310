"""Duty chats on WeCom, end to end: a route to an app group chat (``appchat/send``: the photo uploaded with
``media/upload``, then the text saying how to claim by typing) and to two people (the same, plus a
``button_interaction`` card with Claim). One of them taps Claim (``template_card_event``, as in
tests/integration/test_wecom_buttons.py): the group and the people get the change as a short text."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bot.config import Settings
from bot.replies import say
from tests.fakes.platform_servers import FakeWeCom
from tests.integration import test_wecom_buttons as buttons_tests
from tests.integration.test_wecom import CORP, USER, WeComClient, wecom_settings
from tests.support.engine import photo
from tests.support.live import Live, live_app, order_id_in

pytestmark = pytest.mark.integration

wecom = buttons_tests.wecom
tap = buttons_tests.tap


@pytest.fixture
def live(settings: Settings, wecom: FakeWeCom, real_store: Any, orders: Any, storage: Any) -> Iterator[Live]:
    duty = wecom_settings(settings, wecom, duty_routes=f"wecom:{CORP}=chat:wrkDUTY|users:lisi;wangwu")
    with live_app(duty, store=real_store, orders=orders, storage=storage) as app:
        yield app


def test_the_duty_group_and_people_hear_of_an_order_and_its_claim(live: Live, wecom: FakeWeCom, orders: Any) -> None:
    client = WeComClient(live)
    wecom.add_media("M1", photo(1))
    client.image("M1")
    tap(client, wecom, "water leak")
    client.text("Gate 4, pump room")
    tap(client, wecom, say("en", "choice_confirm"))
    order_id = order_id_in(wecom.sent_texts(USER))
    live.delivered()

    group = [m for m in wecom.sent() if m.get("chatid") == "wrkDUTY"]
    assert [m["msgtype"] for m in group] == ["image", "text"]
    assert wecom.media[group[0]["image"]["media_id"]][0] == photo(1)  # the report photo itself
    assert f"claim {order_id}" in group[1]["text"]["content"]  # no buttons in a group: how to claim by typing
    people = wecom.sent("lisi|wangwu")
    assert [m["msgtype"] for m in people] == ["image", "text", "template_card"]
    claim_card = people[-1]["template_card"]
    assert [b["text"] for b in claim_card["button_list"]] == [say("en", "choice_claim")]

    tap(client, wecom, say("en", "choice_claim"), template_card=claim_card, user="lisi")
    live.delivered()
    assert orders.get(order_id).assignee.user == "lisi"
    assert say("en", "claim_won", order_id=order_id) in wecom.sent_texts("lisi")
    change = [m["text"]["content"] for m in wecom.sent() if m.get("chatid") == "wrkDUTY" and m["msgtype"] == "text"]
    assert "Claimed by lisi" in change[-1]
    told = say("en", "tell_reporter_claimed", order_id=order_id, alarm_type="water leak", who="lisi")
    assert told in wecom.sent_texts(USER)
