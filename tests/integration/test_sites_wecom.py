"""Sites through the WeCom webhook end to end (real app, real Redis, the fake WeCom API): a photo with one of the
corp's QR tags (made by our own tag maker, fetched as WeCom media) fills the place and skips "where?"; a shared
location (WeCom's ``Location_X``/``Location_Y``, GCJ-02 as PLATFORMS.md's WeCom section sends them) near sites
offers them on a template card, tapped back as a ``template_card_event``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bot.config import Settings
from bot.ports import Tenant
from bot.replies import say
from bot.sites.csv_io import read_sites
from tests.fakes.platform_servers import FakeWeCom
from tests.integration.test_wecom import CORP, USER, WeComClient, wecom_settings
from tests.integration.test_wecom_buttons import card, labels, tap
from tests.support.engine import photo
from tests.support.live import Live, live_app, order_id_in
from tests.support.qr import tag_photo
from tests.support.sites import CAMPUS_CSV

pytestmark = pytest.mark.integration


@pytest.fixture
def wecom() -> Iterator[FakeWeCom]:
    with FakeWeCom(corp_id=CORP, secret="wecom-secret") as server:
        yield server


@pytest.fixture
def live(settings: Settings, wecom: FakeWeCom, real_store: Any, orders: Any, storage: Any) -> Iterator[Live]:
    with live_app(wecom_settings(settings, wecom), store=real_store, orders=orders, storage=storage) as app:
        sites = app.runtime.services.sites
        assert sites is not None
        sites.apply(Tenant("wecom", CORP), read_sites(CAMPUS_CSV.encode()), replace=True)
        yield app


def test_a_tagged_photo_skips_where_and_a_type_then_confirm_makes_the_order(
    live: Live, wecom: FakeWeCom, orders: Any
) -> None:
    client = WeComClient(live)
    wecom.add_media("TAGGED", tag_photo(CORP, "B3-E", size=(1200, 900), tag_side=420, angle=15, quality=80))
    client.image("TAGGED")
    tap(client, wecom, labels(card(wecom))[0])  # no VLM here: the first alarm type
    summary = "\n".join(wecom.sent_texts(USER)[-2:])  # "Type set to …", then the summary card
    assert say("en", "summary_location", value="3号楼东门 (scanned) · zone east") in summary, summary
    assert say("en", "ask_location") not in "".join(wecom.sent_texts(USER))
    client.text("confirm")
    order = orders.get(order_id_in(wecom.sent_texts(USER)))
    assert order.site is not None and (order.site.id, order.site.source) == ("B3-E", "qr")


def test_a_location_near_sites_offers_them_and_keeps_the_coordinates(live: Live, wecom: FakeWeCom, orders: Any) -> None:
    client = WeComClient(live)
    wecom.add_media("PLAIN", photo(3))
    client.image("PLAIN")
    tap(client, wecom, labels(card(wecom))[0])
    client.location("31.2304", "121.4738", "3号楼")
    assert labels(card(wecom)) == [
        "1. 3号楼 (10 m)",
        "2. 3号楼东门 (48 m)",
        "3. 3号楼西门 (67 m)",
        say("en", "choice_site_elsewhere"),
        say("en", "choice_cancel"),
    ]
    tap(client, wecom, "2. 3号楼东门 (48 m)")
    summary = "\n".join(wecom.sent_texts(USER)[-2:])  # the summary, then its card
    assert "3号楼东门 (by location)" in summary, summary
    client.text("confirm")
    order = orders.get(order_id_in(wecom.sent_texts(USER)))
    assert (order.site.id, order.site.source, order.coord_datum) == ("B3-E", "snapped", "gcj02")
    assert (order.latitude, order.longitude) == (pytest.approx(31.2304), pytest.approx(121.4738))
