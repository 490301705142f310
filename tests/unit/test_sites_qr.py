"""QR tags read from report photos made with the project's own tag maker: straight, rotated, small in a large
photo, JPEG-recompressed; a foreign tenant's code and no code are ignored; damaged or huge images are no tag.
In the conversation, a tagged photo fills the place and skips "where?" (photo + Confirm makes the order)."""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Callable

import pytest
from PIL import Image

from bot.adapters.sql.orders import SqlWorkOrders
from bot.adapters.storage import LocalFolderStore
from bot.dialogue.engine import Conversation
from bot.ports import Order
from bot.replies import say
from bot.sites.csv_io import read_sites
from bot.sites.qr import read_codes, scan
from tests.support.conversation import CHOICES_ZH, ScriptedVlm, pic, texts
from tests.support.engine import Chat
from tests.support.qr import phone_like, scene, tag_photo
from tests.support.sites import CAMPUS_CSV, campus

SITES = read_sites(CAMPUS_CSV.encode())


@pytest.mark.parametrize(
    ("name", "photo"),
    [
        ("straight", lambda: tag_photo("t1", "B3-E")),
        ("rotated 30°", lambda: tag_photo("t1", "B3-E", angle=30)),
        ("upside down", lambda: tag_photo("t1", "B3-E", angle=180)),
        ("small in a 12 MP photo", lambda: tag_photo("t1", "B3-E", size=(4032, 3024), tag_side=360, quality=85)),
        ("phone recompressed", lambda: phone_like(tag_photo("t1", "B3-E", angle=10))),
        ("PNG", lambda: _png(tag_photo("t1", "B3-E"))),
    ],
)
def test_this_tenants_tag_is_read_from_the_photo(name: str, photo: Callable[[], bytes]) -> None:
    data = photo()
    assert read_codes(data) == ["WOBOT:t1:B3-E"], name
    found = scan([data], "t1", SITES)
    assert found is not None and found.name == "3号楼东门"


def _png(jpeg: bytes) -> bytes:
    out = io.BytesIO()
    Image.open(io.BytesIO(jpeg)).save(out, "PNG")
    return out.getvalue()


def test_a_foreign_tenants_an_unknown_sites_and_no_code_are_ignored() -> None:
    assert scan([tag_photo("t2", "B3-E")], "t1", SITES) is None  # another tenant's tag
    assert scan([tag_photo("t1", "B9-X")], "t1", SITES) is None  # no such site
    assert scan([pic(3)], "t1", SITES) is None  # no code
    assert scan([tag_photo("t1", "B3-E")], "t1", []) is None  # a tenant without sites decodes nothing


def test_damaged_corrupt_and_huge_images_are_no_tag_never_an_error() -> None:
    good = tag_photo("t1", "B3-E")
    assert read_codes(good[: len(good) // 3]) in ([], ["WOBOT:t1:B3-E"])  # cut off: whatever is left, no error
    assert read_codes(b"\xff\xd8\xff\xe0 not really a jpeg") == []
    assert read_codes(b"") == []
    huge = io.BytesIO()
    Image.new("L", (12000, 9000), 255).save(huge, "PNG")  # 108 MP of white, a few kB
    assert read_codes(huge.getvalue()) == []
    torn = scene((800, 600))
    out = io.BytesIO()
    torn.save(out, "JPEG")
    assert read_codes(out.getvalue()) == []


@pytest.fixture
def vlm_chat(make_engine: Callable[..., Conversation], orders: SqlWorkOrders) -> Chat:
    return Chat(make_engine(vlm=ScriptedVlm(), sites=campus(orders)))


def test_a_tagged_photo_fills_the_place_and_confirm_makes_the_order(vlm_chat: Chat, orders: SqlWorkOrders) -> None:
    r = vlm_chat.image(tag_photo("t1", "B3-E", angle=20))
    assert r.state == "waiting_confirm"
    place = say("zh", "site_place_with_zone", place="3号楼东门（扫码）", zone="east")
    assert say("zh", "summary_location", value=place) in texts(r)[-1]
    assert say("zh", "ask_location") not in texts(r)
    done = vlm_chat.tap("确认")
    order = orders.get(done.order_id)
    assert order is not None and order.site is not None
    assert (order.site.id, order.site.source, order.location_text) == ("B3-E", "qr", "3号楼东门")


def test_a_foreign_code_or_none_asks_where_as_today(vlm_chat: Chat) -> None:
    r = vlm_chat.image(tag_photo("t2", "B3-E"))
    assert r.state == "waiting_location" and texts(r)[-1] == say("zh", "ask_location")
    assert "WOBOT" not in "".join(texts(r))  # never shown
    r = vlm_chat.image(pic(5))
    assert r.state == "waiting_location"


def test_a_tagged_photo_held_for_new_or_fix_skips_where_too(vlm_chat: Chat, open_order: Order) -> None:
    held = vlm_chat.image(tag_photo("t1", "B5-P"))
    assert held.state == "idle"  # "a new report, or the fix for WO-…?"
    r = vlm_chat.tap(say("zh", "choice_new"))
    assert r.state == "waiting_confirm" and "5号楼水泵房（扫码）" in texts(r)[-1]


def test_without_a_vlm_the_type_is_still_asked_then_the_summary(
    make_engine: Callable[..., Conversation], orders: SqlWorkOrders
) -> None:
    chat = Chat(make_engine(sites=campus(orders)))
    r = chat.image(tag_photo("t1", "LOBBY"))
    assert r.state == "waiting_confirm" and texts(r) == [
        say("zh", "photo_received"),
        say("zh", "ask_type", choices=CHOICES_ZH),
    ]
    r = chat.text("2")
    assert r.state == "waiting_confirm" and "大堂（扫码）" in texts(r)[-1]


class CountingStorage:
    """The test's storage, counting the reads of each key."""

    def __init__(self, inner: object) -> None:
        self.inner, self.reads = inner, Counter[str]()

    def get(self, key: str) -> bytes:
        self.reads[key] += 1
        return self.inner.get(key)  # type: ignore[attr-defined,no-any-return]

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


@pytest.mark.parametrize("with_sites", [True, False], ids=["a registry", "no registry"])
def test_a_held_photo_is_read_from_storage_once_when_it_becomes_a_report(
    make_engine: Callable[..., Conversation],
    orders: SqlWorkOrders,
    storage: LocalFolderStore,
    open_order: Order,
    with_sites: bool,
) -> None:
    counting = CountingStorage(storage)
    chat = Chat(make_engine(vlm=ScriptedVlm(), storage=counting, sites=campus(orders) if with_sites else None))
    assert chat.image(tag_photo("t1", "B5-P")).state == "idle"  # held: "a new report, or the fix for WO-…?"
    chat.tap(say("zh", "choice_new"))  # its tag looked for (with a registry), then analysed: one read
    assert list(counting.reads.values()) == [1]
