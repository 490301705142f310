"""A WeCom message delivered three times tells the user exactly what it tells them delivered once.

The payloads follow ../shared/PLATFORMS.md §1 (WeCom self-built app callback): each message is the decrypted XML
of §1.4 (``MsgType`` text / image / location, its ``MsgId``, ``AgentID``) inside the encrypted, SHA-1-signed
envelope of §1.2–1.3, built with wechatpy's crypto by ``WeComClient`` (tests/integration/test_wecom.py). §1.7:
WeCom retries a callback it got no answer to in time, three times in all, with the same ``MsgId``. Here each
message of a photo → place → confirm report is posted once, then (as another user) three times: the first, a
second while the first's turn still runs (for the photo: while the VLM is looking at it), a third after it
finished. The messages the user received at each step, the instant "analysing…" text included, must be the same.

Through the real webhook to a live app, replies on the local FakeWeCom, on real Redis (the claim and the hand-off
in one script: ``Taken.QUEUED``) and on the embedded store (a claim, then the hand-off: ``Taken.MARKED``, as on
a Cluster).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bot.config import Settings
from bot.ports import Reporter
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.platform_servers import FakeWeCom
from tests.integration.test_wecom import CORP, WeComClient, wecom_settings
from tests.support.engine import photo
from tests.support.live import ORDER_ID, Live, live_app, wait_until

pytestmark = pytest.mark.integration

_WHEN = re.compile(r"\(\d{4}-\d{2}-\d{2} \d{2}:\d{2}\)")  # when an order was made, as its reply says


@pytest.fixture
def wecom() -> Iterator[FakeWeCom]:
    with FakeWeCom(corp_id=CORP, secret="wecom-app-secret") as server:
        yield server


@pytest.fixture(params=["redis", "embedded"])
def live(
    request: pytest.FixtureRequest,
    settings: Settings,
    wecom: FakeWeCom,
    fake_openai: FakeOpenAI,
    real_store: Any,
    orders: Any,
    storage: Any,
) -> Iterator[Live]:
    configured = wecom_settings(
        settings, wecom, vlm_base_url=fake_openai.base_url, vlm_api_key="sk-test", nlu_base_url="off"
    )
    store = real_store if request.param == "redis" else None  # None: the in-process store
    with live_app(configured, store=store, orders=orders, storage=storage) as app:
        assert app.runtime.marks_are_final is (request.param == "redis")
        yield app


def _report(
    client: WeComClient, wecom: FakeWeCom, live: Live, fake_openai: FakeOpenAI, user: str, first_id: int, copies: int
) -> list[list[str]]:
    """Photo, place, confirm, each delivered ``copies`` times: what the user received at each step."""
    media = f"MEDIA-{user}"
    wecom.add_media(media, photo(7))
    steps = [
        client.message(
            "image",
            f"<PicUrl><![CDATA[http://127.0.0.1:9/nothing]]></PicUrl><MediaId><![CDATA[{media}]]></MediaId>",
            user=user,
            msg_id=first_id,
        ),
        client.message(
            "location",
            "<Location_X>23.134521</Location_X><Location_Y>113.358803</Location_Y><Scale>20</Scale>"
            "<Label><![CDATA[Gate 4, pump room]]></Label><AppType><![CDATA[wxwork]]></AppType>",
            user=user,
            msg_id=first_id + 1,
        ),
        client.message("text", "<Content><![CDATA[confirm]]></Content>", user=user, msg_id=first_id + 2),
    ]
    fake_openai.delay(1.0, times=1)  # the photo's turn is still running when its second delivery arrives
    received: list[list[str]] = []
    for plain in steps:
        before = len(wecom.sent(user))
        running = turn_started(fake_openai, photo_step=plain is steps[0])
        _deliver(lambda _n, settle, plain=plain: client.post_plain(plain, settle=settle), live, copies, running)
        received.append([comparable(text) for text in wecom.sent_texts(user)[before:]])
    return received


def comparable(text: str) -> str:
    """A reply with its order's id and creation time left out: the two reports make two orders."""
    return _WHEN.sub("(…)", ORDER_ID.sub("WO-…", text))


def turn_started(fake_openai: FakeOpenAI, *, photo_step: bool) -> Callable[[], bool]:
    """Is the first delivery's turn running? For a photo: once the VLM was asked (it answers a second later)."""
    calls = len(fake_openai.requests)
    return (lambda: len(fake_openai.requests) > calls) if photo_step else (lambda: True)


def _deliver(post: Callable[[int, bool], Any], live: Live, copies: int, running: Callable[[], bool]) -> None:
    """One delivery, or three as the platform retries: the first, one while its turn runs, one after it finished.
    ``post(n, settle)``: the n-th delivery (0 the first), waiting for the turns it started when ``settle``."""
    assert post(0, False).status == 200
    if copies == 3:
        wait_until(running, what="the first delivery's turn to start")
        assert post(1, False).status == 200
        live.settle()
        assert post(2, True).status == 200
    live.settle()


def test_a_report_delivered_three_times_tells_the_user_what_it_does_delivered_once(
    live: Live, wecom: FakeWeCom, fake_openai: FakeOpenAI, orders: Any
) -> None:
    client = WeComClient(live)
    once = _report(client, wecom, live, fake_openai, "once", 7310000000000000001, copies=1)
    assert once[0][0].startswith("Got your photo") and "Work order created" in once[2][0]  # a report was made
    (first,) = orders.list()[0]
    # Cancelled, so that the same report from the same place is not taken for a repeat of it.
    orders.cancel(first.id, "the next report is the same one", Reporter("wecom", CORP, "ops"))
    thrice = _report(client, wecom, live, fake_openai, "thrice", 7320000000000000001, copies=3)
    assert [len(step) for step in thrice] == [len(step) for step in once]  # messages the user received, per step
    assert thrice == once  # and the same ones
    page, _ = orders.list()
    assert sorted((order.reporter.user, order.status) for order in page) == [("once", "cancelled"), ("thrice", "open")]
