"""Photos as phones send them: bursts, several photos in one message, HEIC, sideways JPEGs, files, videos.

The engine is driven like a field worker's phone: photos a few seconds apart (``sent_at``) make one
report, a message may carry several, an iPhone sends HEIC, and a photo taken sideways carries an
EXIF orientation tag instead of turned pixels.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from bot.adapters.redis.store import SessionStore
from bot.adapters.redis.user_lock import reservation, reserve
from bot.adapters.sql.orders import SqlWorkOrders
from bot.adapters.storage import LocalFolderStore
from bot.config import Settings
from bot.dialogue.engine import Conversation
from bot.images import perceptual_hash, same_picture, sniff_image_type, upright
from bot.replies import say
from tests.support.conversation import ScriptedVlm
from tests.support.engine import Chat, heic, photo

T0 = 1_800_000_000.0  # a fixed clock for sent_at


def texts(result: object) -> list[str]:
    return [r.text for r in result.replies]  # type: ignore[attr-defined]


def stored_files(settings: Settings) -> list[Path]:
    return [p for p in Path(settings.storage_dir).rglob("*") if p.is_file()]


def sideways(data: bytes) -> bytes:
    """The same scene as a phone held sideways saves it: pixels turned, EXIF orientation 6 to turn them back."""
    img = Image.open(io.BytesIO(data)).rotate(90, expand=True)  # counter-clockwise; tag 6 says "turn clockwise"
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    img.save(out, "JPEG", quality=92, exif=exif.tobytes())
    return out.getvalue()


@pytest.fixture
def burst_settings(settings: Settings) -> Settings:
    return settings.with_(photo_burst_seconds=8.0, max_photos_per_report=4)


@pytest.fixture
def vlm() -> ScriptedVlm:
    return ScriptedVlm()


@pytest.fixture
def chat(make_engine: Callable[..., Conversation], burst_settings: Settings, vlm: ScriptedVlm) -> Chat:
    return Chat(make_engine(settings=burst_settings, vlm=vlm))


# -- several photos, one report -----------------------------------------------------------------------------
def test_a_burst_of_three_photos_is_one_report_with_all_three(
    chat: Chat, vlm: ScriptedVlm, orders: SqlWorkOrders, storage: LocalFolderStore
) -> None:
    chat.image(photo(1), sent_at=T0)
    chat.image(photo(2), sent_at=T0 + 2)
    r = chat.image(photo(3), sent_at=T0 + 5)
    assert texts(r)[0] == say("zh", "photo_added", count=3) and r.state == "waiting_location"
    # the last analysis saw all three photos in one request, in the order they were sent
    assert [p.data for p in vlm.analyze_calls[-1]["photos"]] == [photo(1), photo(2), photo(3)]
    chat.text("B2 泵房")
    done = chat.text("确认")
    order = orders.get(done.order_id)
    assert order is not None and len(order.photo_keys) == 3
    assert [storage.get(key) for key in order.photo_keys] == [photo(1), photo(2), photo(3)]


def test_a_photo_sent_after_the_burst_window_replaces_the_report_photos(
    chat: Chat, settings: Settings, vlm: ScriptedVlm
) -> None:
    chat.image(photo(1), sent_at=T0)
    chat.image(photo(2), sent_at=T0 + 3)
    r = chat.image(photo(3), sent_at=T0 + 60)
    assert texts(r)[0] == say("zh", "photo_replaced")
    assert [p.data for p in vlm.analyze_calls[-1]["photos"]] == [photo(3)]
    assert len(stored_files(settings)) == 1  # the two replaced photos were deleted


def test_one_message_with_two_images_is_one_report_and_one_answer(chat: Chat, vlm: ScriptedVlm) -> None:
    r = chat.image(photo(1), more_images=(photo(2),), sent_at=T0)
    assert len(vlm.analyze_calls) == 1 and [p.data for p in vlm.analyze_calls[0]["photos"]] == [photo(1), photo(2)]
    assert r.state == "waiting_location" and say("zh", "photo_replaced") not in texts(r)


def test_photos_beyond_the_limit_are_not_added_and_the_user_is_told(chat: Chat, vlm: ScriptedVlm) -> None:
    chat.image(photo(1), more_images=(photo(2), photo(3)), sent_at=T0)
    r = chat.image(photo(4), more_images=(photo(5),), sent_at=T0 + 1)
    assert say("zh", "photos_over_limit", limit=4, count=1) in texts(r)
    assert len(vlm.analyze_calls[-1]["photos"]) == 4
    r = chat.image(photo(6), sent_at=T0 + 2)  # full: nothing added, the question asked again
    assert texts(r) == [say("zh", "photos_over_limit", limit=4, count=1), say("zh", "ask_location")]


def test_a_burst_while_photos_are_held_keeps_them_all(
    make_engine: Callable[..., Conversation], burst_settings: Settings, orders: SqlWorkOrders
) -> None:
    """A user with an open order sends two photos: both are held for "new report, or the fix?"."""
    vlm = ScriptedVlm()
    chat = Chat(make_engine(settings=burst_settings, vlm=vlm))
    chat.image(photo(1), sent_at=T0)
    chat.text("大堂")
    chat.text("确认")
    chat.image(photo(7), sent_at=T0 + 100)
    r = chat.image(photo(8), sent_at=T0 + 103)
    assert "new" in {c.id.split(".")[-1] for c in r.choices}
    r = chat.tap(say("zh", "choice_new"))
    assert [p.data for p in vlm.analyze_calls[-1]["photos"]] == [photo(7), photo(8)]


# -- the close check sees every report photo ----------------------------------------------------------------
def test_the_close_check_compares_the_fix_with_every_report_photo(chat: Chat, vlm: ScriptedVlm) -> None:
    chat.image(photo(1), more_images=(photo(2),), sent_at=T0)
    chat.text("大堂")
    order_id = chat.text("确认").order_id
    chat.text(f"结单 {order_id}")
    r = chat.image(photo(2), sent_at=T0 + 100)  # the second report photo again is not a fix
    assert texts(r) == [say("zh", "close_same_photo")] and r.state == "waiting_close_photo"
    r = chat.image(photo(9), sent_at=T0 + 200)
    assert r.state == "idle" and r.order_id == order_id
    assert [p.data for p in vlm.verify_calls[-1]["befores"]] == [photo(1), photo(2)]


# -- HEIC and EXIF orientation ------------------------------------------------------------------------------
def test_a_heic_photo_is_stored_and_analysed_as_jpeg(chat: Chat, vlm: ScriptedVlm, storage: LocalFolderStore) -> None:
    original = heic(photo(1))
    assert sniff_image_type(original) == "image/heic"
    r = chat.image(original, sent_at=T0)
    assert r.state == "waiting_location"
    sent = vlm.analyze_calls[0]["photos"][0]
    assert sent.content_type == "image/jpeg" and sniff_image_type(sent.data) == "image/jpeg"
    # the perceptual hash of the decoded HEIC matches the picture it was made from
    assert same_picture(photo(1), original) and same_picture(photo(1), sent.data)


def test_a_sideways_photo_is_turned_upright_before_hashing_and_analysis(chat: Chat, vlm: ScriptedVlm) -> None:
    upright_jpeg, tagged = photo(3, size=(320, 240)), sideways(photo(3, size=(320, 240)))
    assert Image.open(io.BytesIO(tagged)).size == (240, 320)  # stored sideways, the tag says turn it
    assert abs(perceptual_hash(upright_jpeg) ^ perceptual_hash(tagged)).bit_count() <= 6
    chat.image(tagged, sent_at=T0)
    sent = vlm.analyze_calls[0]["photos"][0]
    assert Image.open(io.BytesIO(sent.data)).size == (320, 240)  # the VLM gets upright pixels
    assert Image.open(io.BytesIO(sent.data)).getexif().get(0x0112) is None
    assert upright(upright_jpeg, "image/jpeg") == (upright_jpeg, "image/jpeg")  # already upright: untouched


def test_a_sideways_copy_of_the_report_photo_is_not_a_fix(chat: Chat) -> None:
    chat.image(photo(4), sent_at=T0)
    chat.text("大堂")
    order_id = chat.text("确认").order_id
    chat.text(f"结单 {order_id}")
    r = chat.image(sideways(photo(4)), sent_at=T0 + 100)
    assert texts(r) == [say("zh", "close_same_photo")]


# -- files and videos ---------------------------------------------------------------------------------------
def test_a_file_that_is_not_a_photo_is_refused_with_a_reason(chat: Chat) -> None:
    r = chat.image(b"%PDF-1.7 a work schedule", sent_at=T0)
    assert texts(r) == [say("zh", "not_image")] and r.state == "idle"


def test_one_unreadable_file_among_photos_is_left_out_and_said(chat: Chat, vlm: ScriptedVlm) -> None:
    r = chat.image(photo(1), more_images=(b"PK\x03\x04 a zip",), sent_at=T0)
    assert texts(r)[0] == say("zh", "photos_left_out", count=1) and r.state == "waiting_location"
    assert len(vlm.analyze_calls[0]["photos"]) == 1


def test_a_video_gets_a_polite_request_for_a_photo(chat: Chat) -> None:
    r = chat.other("video")
    assert texts(r) == [say("zh", "video_not_photo")] and r.state == "idle"
    chat.image(photo(1), sent_at=T0)
    r = chat.other("video")  # mid-report: the open question comes again, with its buttons
    assert texts(r)[0] == say("zh", "video_not_photo") and texts(r)[-1].endswith(say("zh", "ask_location"))
    assert r.state == "waiting_location" and r.choices


def test_burst_settings_are_checked_at_start_up(settings: Settings) -> None:
    with pytest.raises(ValueError, match="MAX_PHOTOS_PER_REPORT"):
        settings.with_(max_photos_per_report=11)
    with pytest.raises(ValueError, match="PHOTO_BURST_SECONDS"):
        settings.with_(photo_burst_seconds=-1)
    assert Settings.from_env({"PHOTO_BURST_SECONDS": "2.5"}).photo_burst_seconds == 2.5


def test_session_store_keeps_photo_fields(chat: Chat, fake_store: SessionStore) -> None:
    chat.image(photo(1), more_images=(photo(2),), sent_at=T0)
    pending = fake_store.load(chat.key).pending  # type: ignore[union-attr]
    assert pending["photo_at"] == T0 and len(pending["more_photos"]) == 1


def test_held_photos_used_as_a_fix_keep_no_links_to_the_photos_dropped(
    make_engine: Callable[..., Conversation], burst_settings: Settings, fake_store: SessionStore
) -> None:
    """Two photos held, then "it is the fix for WO-…": the first is the close photo, the second is deleted
    and its history entry loses the link (the admin page shows "[image]", not a broken picture)."""
    chat = Chat(make_engine(settings=burst_settings.with_(max_photos_per_report=2), vlm=ScriptedVlm()))
    chat.image(photo(1), sent_at=T0)
    chat.text("大堂")
    order_id = chat.text("确认").order_id
    chat.image(photo(7), sent_at=T0 + 100)
    chat.image(photo(8), sent_at=T0 + 101)
    full = chat.image(photo(9), sent_at=T0 + 102)  # past the limit: the held question is asked again
    assert texts(full)[0] == say("zh", "photos_over_limit", limit=2, count=1) and full.choices
    r = chat.tap(next(label for label in chat.buttons() if order_id[-5:] in label))
    assert r.order_id == order_id and r.state == "idle"
    history = fake_store.load(chat.key).history  # type: ignore[union-attr]
    linked = [key for entry in history for key in [entry.get("image_key"), *entry.get("more_image_keys", [])] if key]
    assert len(set(linked)) == 2  # the report photo and the fix photo; the dropped one is unlinked


# -- one analysis per burst ------------------------------------------------------------------------------------
def test_a_burst_still_arriving_is_analysed_once_by_its_last_photo(
    chat: Chat, vlm: ScriptedVlm, fake_store: SessionStore
) -> None:
    """Three photos arrive (the hand-off reserves each one's place in the user's queue) before the first turn runs:
    the first two leave the analysis to the last, which sends all three in one request and asks the next question."""
    for event in ("p1", "p2", "p3"):
        reserve(fake_store, reservation(fake_store, chat.key, event, photo=True), 30_000)
    first = chat.image(photo(1), sent_at=T0, event_id="p1")
    second = chat.image(photo(2), sent_at=T0 + 1, event_id="p2")
    assert texts(first) == [say("zh", "photo_burst_waiting")] and first.choices == ()
    assert texts(second) == [say("zh", "photo_added_plain", count=2)] and vlm.analyze_calls == []
    last = chat.image(photo(3), sent_at=T0 + 2, event_id="p3")
    assert len(vlm.analyze_calls) == 1
    assert [p.data for p in vlm.analyze_calls[0]["photos"]] == [photo(1), photo(2), photo(3)]
    assert texts(last)[0] == say("zh", "photo_added", count=3) and texts(last)[-1] == say("zh", "ask_location")


def test_a_text_queued_behind_a_photo_does_not_hold_its_analysis(
    chat: Chat, vlm: ScriptedVlm, fake_store: SessionStore
) -> None:
    reserve(fake_store, reservation(fake_store, chat.key, "p1", photo=True), 30_000)
    reserve(fake_store, reservation(fake_store, chat.key, "t1"), 30_000)  # "3号楼", typed right after
    r = chat.image(photo(1), sent_at=T0, event_id="p1")
    assert len(vlm.analyze_calls) == 1 and texts(r)[-1] == say("zh", "ask_location")


def test_a_single_photo_is_analysed_at_once(chat: Chat, vlm: ScriptedVlm) -> None:
    chat.image(photo(1), sent_at=T0, event_id="only")
    assert len(vlm.analyze_calls) == 1
