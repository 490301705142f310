"""What the VLM is sent of a photo: a scaled, upright JPEG copy (``VLM_IMAGE_MAX_SIDE``), while storage keeps
the photo as it came. Through the real ``openai`` client against FakeOpenAI, and the whole app on the local S3.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator

import pytest
from PIL import Image, ImageDraw, ImageOps

from bot.adapters.storage import LocalFolderStore
from bot.adapters.vlm import OpenAIVlm
from bot.config import Settings
from bot.images import perceptual_hash
from bot.ports import Photo, ServiceError
from tests.fakes.openai_server import FakeOpenAI
from tests.support.e2e import FIXED, Stack, answer, data_url_bytes, report
from tests.support.engine import photo

pytestmark = pytest.mark.integration

TYPES = ("water leak", "other")
LIMIT = 512  # small, so the pictures below stay quick to make; the rule is the same at 1536


def big(seed: int = 1, size: tuple[int, int] = (1600, 1200), orientation: int = 1, halves: bool = False) -> bytes:
    """A JPEG larger than LIMIT tagged with ``orientation``; ``halves``: top half red, bottom half blue as stored."""
    img = Image.open(io.BytesIO(photo(seed, size))).convert("RGB")
    if halves:
        draw = ImageDraw.Draw(img)
        draw.rectangle((0, 0, size[0], size[1] // 2 - 1), fill=(220, 20, 20))
        draw.rectangle((0, size[1] // 2, size[0], size[1]), fill=(20, 20, 220))
    exif = Image.Exif()
    exif[0x0112] = orientation
    out = io.BytesIO()
    img.save(out, "JPEG", quality=92, exif=exif.tobytes())
    return out.getvalue()


def received(url: str) -> Image.Image:
    img = Image.open(io.BytesIO(data_url_bytes(url)))
    assert img.format == "JPEG"
    return img


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


def make_vlm(server: FakeOpenAI, store: LocalFolderStore | None = None, **changes: object) -> OpenAIVlm:
    settings = Settings(vlm_base_url=server.base_url, vlm_timeout_seconds=5, language="en", vlm_image_max_side=LIMIT)
    return OpenAIVlm(settings.with_(**changes), store=store)


def test_analyze_sends_a_jpeg_within_the_limit(server: FakeOpenAI) -> None:
    png = io.BytesIO()
    Image.open(io.BytesIO(big(2, (900, 1400)))).save(png, "PNG")
    make_vlm(server).analyze([Photo(big(1), "image/jpeg"), Photo(png.getvalue(), "image/png")], TYPES, [])

    first, second = (received(url) for url in server.requests[0].image_urls)
    assert first.size == (LIMIT, 384)  # the aspect ratio kept
    assert second.size == (329, LIMIT)
    assert server.requests[0].image_urls[1].startswith("data:image/jpeg;base64,")


def test_quality_setting_is_the_jpeg_quality(server: FakeOpenAI) -> None:
    out = io.BytesIO()
    Image.effect_noise((1600, 1200), 40).convert("RGB").save(out, "JPEG", quality=92)  # detail, as in a photo
    grainy = Photo(out.getvalue(), "image/jpeg")
    make_vlm(server, vlm_image_quality=30).analyze([grainy], TYPES, [])
    make_vlm(server, vlm_image_quality=95).analyze([grainy], TYPES, [])
    low, high = (len(data_url_bytes(r.image_urls[0])) for r in server.requests)
    assert low < high / 2


def test_a_sideways_photo_arrives_upright(server: FakeOpenAI) -> None:
    sideways = big(4, (1600, 1200), orientation=6, halves=True)  # stored wide, shown tall: turned 90° clockwise
    make_vlm(server).analyze([Photo(sideways, "image/jpeg")], TYPES, [])

    got = received(server.requests[0].image_urls[0])
    assert got.size == (384, LIMIT)
    assert got.getexif().get(0x0112) is None  # no tag left to turn it twice
    shown = ImageOps.exif_transpose(Image.open(io.BytesIO(sideways))).convert("RGB")
    # as shown, the red half is on the right, the blue on the left
    assert shown.getpixel((shown.width - 5, 5))[0] > 180
    assert got.convert("RGB").getpixel((got.width - 5, 5))[0] > 180
    assert got.convert("RGB").getpixel((5, 5))[2] > 180


def test_a_small_upright_jpeg_goes_as_it_came(server: FakeOpenAI) -> None:
    small = photo(5, (400, 300))
    make_vlm(server).analyze([Photo(small, "image/jpeg")], TYPES, [])
    assert data_url_bytes(server.requests[0].image_urls[0]) == small


def test_zero_sends_the_photo_as_stored(server: FakeOpenAI) -> None:
    original = big(6)
    make_vlm(server, vlm_image_max_side=0).analyze([Photo(original, "image/jpeg")], TYPES, [])
    assert data_url_bytes(server.requests[0].image_urls[0]) == original


def test_the_close_check_scales_every_photo(server: FakeOpenAI) -> None:
    server.respond_with(answer(FIXED))
    before = [Photo(big(7), "image/jpeg"), Photo(big(8, (1200, 1600)), "image/jpeg")]
    make_vlm(server).verify_fixed(before, Photo(big(9, (2000, 1000)), "image/jpeg"), "leak", [])

    sizes = [received(url).size for url in server.requests[0].image_urls]
    assert sizes == [(LIMIT, 384), (384, LIMIT), (LIMIT, 256)]


def test_the_copy_hashes_like_the_photo(server: FakeOpenAI) -> None:
    """The duplicate checks hash the stored photo; the copy is the same picture to them."""
    original = big(10)
    make_vlm(server).analyze([Photo(original, "image/jpeg")], TYPES, [])
    copy = data_url_bytes(server.requests[0].image_urls[0])
    assert (perceptual_hash(copy) ^ perceptual_hash(original)).bit_count() <= 4


def test_url_mode_with_a_store_that_gives_no_links_sends_the_copy_inline(server: FakeOpenAI, tmp_path) -> None:
    store = LocalFolderStore(str(tmp_path))
    key = store.put(big(11), "image/jpeg")
    vlm = make_vlm(server, store, vlm_image_mode="url")
    vlm.analyze([Photo(store.get(key), "image/jpeg", store.url(key))], TYPES, [])
    assert received(server.requests[0].image_urls[0]).size == (LIMIT, 384)
    assert [p.name for p in tmp_path.rglob("*.jpg")] == [key.rsplit("/", 1)[1]]  # no copy left behind


# -- the whole app: storage keeps the original ------------------------------------------------------------------
def test_report_and_close_send_copies_and_store_originals(build: Callable[..., Stack]) -> None:
    stack = build(vlm_image_max_side=LIMIT)
    report_photo, fixed_photo = big(12), big(13, (1200, 1600))
    order_id = report(stack, report_photo)

    assert received(stack.vlm.requests[0].image_urls[0]).size == (LIMIT, 384)
    (key,) = stack.objects()
    assert stack.object_bytes(key) == report_photo

    assert stack.web.text(f"结单 {order_id}")["state"] == "waiting_close_photo"
    stack.vlm.respond_with(answer(FIXED), times=1)
    assert stack.web.image(fixed_photo)["order_id"] == order_id
    before, after = (received(url).size for url in stack.vlm.requests[-1].image_urls)
    assert (before, after) == ((LIMIT, 384), (384, LIMIT))
    assert stack.object_bytes(stack.order(order_id).close_photo_key) == fixed_photo


def test_url_mode_links_a_copy_that_lives_for_the_call(build: Callable[..., Stack]) -> None:
    stack = build(vlm_image_mode="url", vlm_image_max_side=LIMIT)
    stack.vlm.fetch_links()
    original = big(14)
    report(stack, original)

    request = stack.vlm.requests[0]
    (url,) = request.image_urls
    assert url.startswith(stack.s3.endpoint_url) and "X-Amz-Signature=" in url
    (fetched,) = request.fetched
    assert fetched is not None
    assert Image.open(io.BytesIO(fetched)).size == (LIMIT, 384)
    (key,) = stack.objects()  # the copy is gone, the original stays
    assert key not in url and stack.object_bytes(key) == original


def test_url_mode_links_the_stored_photo_when_it_needs_no_copy(build: Callable[..., Stack]) -> None:
    stack = build(vlm_image_mode="url", vlm_image_max_side=LIMIT)
    stack.vlm.fetch_links()
    small = photo(15, (400, 300))
    report(stack, small)

    (key,) = stack.objects()
    assert key in stack.vlm.requests[0].image_urls[0]
    assert stack.vlm.requests[0].fetched == (small,)


class BrokenStore(LocalFolderStore):
    """A folder whose puts (or deletes) fail the way S3's do."""

    def __init__(self, root: str, *, put_fails: bool, delete_fails: bool) -> None:
        super().__init__(root)
        self.put_fails, self.delete_fails = put_fails, delete_fails

    def put(self, data: bytes, content_type: str) -> str:
        if self.put_fails:
            raise ServiceError("object storage put failed: SlowDown")
        return super().put(data, content_type)

    def url(self, key: str, expires_seconds: int = 600) -> str | None:
        super().url(key, expires_seconds)
        return f"http://127.0.0.1:1/{key}"

    def delete(self, key: str) -> None:
        if self.delete_fails:
            raise ServiceError("object storage delete failed: SlowDown")
        super().delete(key)


def test_a_copy_storage_will_not_take_goes_inline(server: FakeOpenAI, tmp_path, caplog) -> None:
    store = BrokenStore(str(tmp_path), put_fails=True, delete_fails=False)
    vlm = make_vlm(server, store, vlm_image_mode="url")
    vlm.analyze([Photo(big(16), "image/jpeg", "http://127.0.0.1:1/original.jpg")], TYPES, [])
    assert received(server.requests[0].image_urls[0]).size == (LIMIT, 384)
    assert "vlm copy not stored, sent inline" in caplog.text


def test_a_copy_storage_will_not_delete_is_logged_and_the_answer_kept(server: FakeOpenAI, tmp_path, caplog) -> None:
    store = BrokenStore(str(tmp_path), put_fails=False, delete_fails=True)
    vlm = make_vlm(server, store, vlm_image_mode="url")
    assert vlm.analyze([Photo(big(17), "image/jpeg", "http://127.0.0.1:1/original.jpg")], TYPES, []).alarm_type
    (url,) = server.requests[0].image_urls
    assert url.startswith("http://127.0.0.1:1/") and url != "http://127.0.0.1:1/original.jpg"
    assert "vlm copy not deleted" in caplog.text
