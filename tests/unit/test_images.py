"""Photo checks: type sniffing, size/empty rejection, and "is this the same photo" hashing."""

from __future__ import annotations

import io
import struct
import warnings
import zlib

import pytest
from PIL import Image, ImageDraw

from bot.images import (
    ImageRejected,
    check_image,
    hamming,
    perceptual_hash,
    same_picture,
    sniff_image_type,
)

# --- synthetic photos ------------------------------------------------------------------------------


def scene_a(size: tuple[int, int] = (640, 480)) -> Image.Image:
    """A 'site photo': a horizontal gradient, a dark cabinet, a bright pipe and a round gauge."""
    w, h = size
    img = Image.new("RGB", size)
    draw = ImageDraw.Draw(img)
    for x in range(w):
        shade = int(60 + 150 * x / w)
        draw.line([(x, 0), (x, h)], fill=(shade, shade - 20, 90))
    draw.rectangle([w * 0.1, h * 0.2, w * 0.35, h * 0.9], fill=(30, 30, 40))
    draw.rectangle([w * 0.45, h * 0.55, w * 0.95, h * 0.65], fill=(230, 230, 210))
    draw.ellipse([w * 0.6, h * 0.1, w * 0.85, h * 0.42], fill=(200, 40, 40), outline=(0, 0, 0), width=4)
    return img


def noisy(img: Image.Image) -> Image.Image:
    """Sensor-like noise, so encoders have texture to lose as they would on a real photo."""
    return Image.blend(img, Image.effect_noise(img.size, 40).convert("RGB"), 0.25)


def scene_b(size: tuple[int, int] = (640, 480)) -> Image.Image:
    """A different site: vertical gradient the other way, shapes elsewhere."""
    w, h = size
    img = Image.new("RGB", size)
    draw = ImageDraw.Draw(img)
    for y in range(h):
        shade = int(220 - 170 * y / h)
        draw.line([(0, y), (w, y)], fill=(90, shade, shade))
    draw.ellipse([w * 0.05, h * 0.5, w * 0.4, h * 0.95], fill=(250, 250, 250))
    draw.rectangle([w * 0.55, h * 0.05, w * 0.7, h * 0.8], fill=(10, 10, 10))
    draw.polygon([(w * 0.75, h * 0.9), (w * 0.98, h * 0.9), (w * 0.86, h * 0.3)], fill=(40, 160, 40))
    return img


def encode(img: Image.Image, fmt: str, **options: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **options)
    return buf.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels (a decompression-bomb lure)."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


# --- sniffing and checks ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "content_type"),
    [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp"), ("GIF", "image/gif")],
)
def test_each_supported_type_is_sniffed_from_its_bytes(fmt: str, content_type: str) -> None:
    data = encode(scene_a((64, 48)), fmt)

    assert sniff_image_type(data) == content_type
    assert check_image(data, max_bytes=1_000_000) == content_type


def test_unknown_bytes_are_not_sniffed() -> None:
    assert sniff_image_type(b"") is None
    assert sniff_image_type(b"RIFF\x00\x00\x00\x00WAVEfmt ") is None  # RIFF, but audio
    assert sniff_image_type(b"%PDF-1.7\n") is None


def test_a_text_file_named_jpg_is_rejected(tmp_path) -> None:
    path = tmp_path / "photo.jpg"
    path.write_text("this is not a photo, just a file with a .jpg name\n")

    with pytest.raises(ImageRejected) as caught:
        check_image(path.read_bytes(), max_bytes=1_000_000)

    assert caught.value.reason == "not_image"


def test_too_large_is_rejected_before_anything_else() -> None:
    data = encode(scene_a((64, 48)), "PNG")

    with pytest.raises(ImageRejected) as caught:
        check_image(data, max_bytes=len(data) - 1)

    assert caught.value.reason == "too_large"
    assert check_image(data, max_bytes=len(data)) == "image/png"  # the limit itself is allowed


def test_empty_is_rejected() -> None:
    with pytest.raises(ImageRejected) as caught:
        check_image(b"", max_bytes=100)

    assert caught.value.reason == "empty"


def test_image_rejected_is_a_value_error_with_a_known_reason() -> None:
    assert isinstance(ImageRejected("empty"), ValueError)
    with pytest.raises(ValueError, match="unknown rejection reason"):
        ImageRejected("weird")  # type: ignore[arg-type]


# --- perceptual hash ---------------------------------------------------------------------------------


def test_hash_is_64_bits_and_deterministic() -> None:
    data = encode(scene_a(), "PNG")

    value = perceptual_hash(data)

    assert 0 <= value < 2**64
    assert perceptual_hash(data) == value


def test_identical_bytes_are_the_same_picture_even_undecodable() -> None:
    junk = b"not an image at all"

    assert same_picture(junk, bytes(junk))


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param(lambda img: encode(img, "JPEG", quality=40), id="jpeg-q40"),
        pytest.param(
            lambda img: encode(img.resize((320, 240), Image.Resampling.BILINEAR), "JPEG", quality=85), id="half-size"
        ),
        pytest.param(lambda img: encode(img, "PNG"), id="png"),
        pytest.param(lambda img: encode(img, "WEBP", quality=50), id="webp"),
    ],
)
def test_re_encoded_resized_or_converted_copy_is_the_same_picture(variant) -> None:
    photo = noisy(scene_a())
    original = encode(photo, "JPEG", quality=92)
    copy = variant(photo)

    assert copy != original
    assert same_picture(original, copy)


def test_a_different_scene_is_not_the_same_picture() -> None:
    a = encode(noisy(scene_a()), "JPEG", quality=92)
    b = encode(noisy(scene_b()), "JPEG", quality=92)

    assert not same_picture(a, b)
    assert hamming(perceptual_hash(a), perceptual_hash(b)) > 20


def test_exif_orientation_is_applied_before_hashing() -> None:
    upright = scene_a()
    # what a phone writes: pixels stored sideways plus "rotate 90° clockwise to display"
    sideways = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    tagged = encode(sideways, "JPEG", quality=90, exif=exif.tobytes())
    untagged = encode(sideways, "JPEG", quality=90)

    assert same_picture(encode(upright, "JPEG", quality=90), tagged)
    assert not same_picture(encode(upright, "JPEG", quality=90), untagged)


def test_transparent_png_hashes_like_its_flattened_jpeg() -> None:
    rgba = scene_a().convert("RGBA")
    ImageDraw.Draw(rgba).rectangle([0, 0, 320, 480], fill=(0, 0, 0, 0))  # left half see-through
    flattened = Image.new("RGB", rgba.size, (255, 255, 255))
    flattened.paste(rgba, mask=rgba)

    assert same_picture(encode(rgba, "PNG"), encode(flattened, "JPEG", quality=80))


def test_undecodable_bytes_with_an_image_signature_are_not_an_image() -> None:
    fake_jpeg = b"\xff\xd8\xff\xe0" + b"garbage" * 100

    with pytest.raises(ImageRejected) as caught:
        perceptual_hash(fake_jpeg)

    assert caught.value.reason == "not_image"


def test_formats_we_do_not_accept_are_not_decoded() -> None:
    bmp = encode(scene_a((64, 48)), "BMP")

    with pytest.raises(ImageRejected) as caught:
        perceptual_hash(bmp)

    assert caught.value.reason == "not_image"


def test_empty_bytes_are_rejected_by_the_hash() -> None:
    with pytest.raises(ImageRejected) as caught:
        perceptual_hash(b"")

    assert caught.value.reason == "empty"


@pytest.mark.parametrize(
    ("width", "height", "cause"),
    [
        (100_000, 100_000, Image.DecompressionBombError),  # over 2x the limit: Pillow raises
        (10_000, 10_000, Image.DecompressionBombWarning),  # over the limit: Pillow only warns
    ],
)
def test_decompression_bomb_header_is_rejected_without_decoding(width: int, height: int, cause: type) -> None:
    bomb = png_header_only(width, height)
    assert width * height > Image.MAX_IMAGE_PIXELS  # type: ignore[operator]

    with warnings.catch_warnings():
        # the module must not depend on pytest's "warnings are errors" setting
        warnings.simplefilter("ignore")
        with pytest.raises(ImageRejected) as caught:
            perceptual_hash(bomb)

    assert caught.value.reason == "not_image"
    assert isinstance(caught.value.__cause__, cause)
