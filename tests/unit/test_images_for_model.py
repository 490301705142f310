"""``for_model``: the copy of a photo a VLM is sent, and the two settings that shape it."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from bot.config import Settings, SettingsError
from bot.images import ImageRejected, for_model
from tests.support.engine import heic, photo


def size_of(data: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(data)).size


def test_a_large_jpeg_is_scaled_to_the_long_side() -> None:
    data, content_type = for_model(photo(1, (2000, 1500)), 1000, 85)
    assert content_type == "image/jpeg" and data.startswith(b"\xff\xd8\xff")
    assert size_of(data) == (1000, 750)


def test_a_tall_photo_is_limited_by_its_height() -> None:
    assert size_of(for_model(photo(2, (900, 3000)), 1500, 85)[0]) == (450, 1500)


def test_a_small_upright_jpeg_is_returned_as_it_came() -> None:
    small = photo(3, (640, 480))
    data, content_type = for_model(small, 1536, 85)
    assert data is small and content_type == "image/jpeg"


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "GIF"])
def test_other_formats_become_jpeg_even_when_small(fmt: str) -> None:
    data, content_type = for_model(photo(4, (300, 200), fmt=fmt), 1536, 85)
    assert content_type == "image/jpeg" and size_of(data) == (300, 200)


def test_heic_becomes_a_scaled_jpeg() -> None:
    data, content_type = for_model(heic(photo(5, (1200, 900))), 600, 85)
    assert content_type == "image/jpeg" and size_of(data) == (600, 450)


def test_a_small_sideways_jpeg_is_turned_and_loses_the_tag() -> None:
    exif = Image.Exif()
    exif[0x0112] = 8
    out = io.BytesIO()
    Image.open(io.BytesIO(photo(6, (400, 300)))).save(out, "JPEG", exif=exif.tobytes())
    data, _ = for_model(out.getvalue(), 1536, 85)
    turned = Image.open(io.BytesIO(data))
    assert turned.size == (300, 400) and turned.getexif().get(0x0112) is None


def test_zero_returns_every_photo_as_it_came() -> None:
    png = photo(7, (3000, 2000), fmt="PNG")
    assert for_model(png, 0, 85) == (png, "image/png")


@pytest.mark.parametrize("data", [b"", b"\xff\xd8\xff not a jpeg", b"hello"])
@pytest.mark.parametrize("max_side", [0, 1536])
def test_what_is_not_an_image_is_rejected(data: bytes, max_side: int) -> None:
    if max_side == 0 and data.startswith(b"\xff\xd8\xff"):
        assert for_model(data, max_side, 85) == (data, "image/jpeg")  # as is means not decoded
        return
    with pytest.raises(ImageRejected):
        for_model(data, max_side, 85)


def test_settings_defaults_and_environment() -> None:
    assert (Settings().vlm_image_max_side, Settings().vlm_image_quality) == (1536, 85)
    settings = Settings.from_env({"VLM_IMAGE_MAX_SIDE": "0", "VLM_IMAGE_QUALITY": "70"})
    assert (settings.vlm_image_max_side, settings.vlm_image_quality) == (0, 70)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("VLM_IMAGE_MAX_SIDE", "-1"),
        ("VLM_IMAGE_MAX_SIDE", "100"),
        ("VLM_IMAGE_MAX_SIDE", "9000"),
        ("VLM_IMAGE_MAX_SIDE", "big"),
        ("VLM_IMAGE_MAX_SIDE", "1536.5"),
        ("VLM_IMAGE_QUALITY", "0"),
        ("VLM_IMAGE_QUALITY", "96"),
        ("VLM_IMAGE_QUALITY", "high"),
    ],
)
def test_malformed_settings_name_the_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        Settings.from_env({variable: value})
