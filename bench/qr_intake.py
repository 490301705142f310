"""What reading a QR tag from a report photo costs, beside the intake without it; and how often tags are read.

    .venv/bin/python bench/qr_intake.py [--rounds 15] [--size 4032x3024]

Per photo, on a synthetic phone-sized picture (default 12 MP) of a busy room:
  intake         ``check_image`` + ``upright`` + ``perceptual_hash``: what a report photo costs today
  intake + qr    the same and ``bot.sites.qr.read_codes`` on a photo with no tag (most photos)
  intake + tag   the same on a photo with a tag in it (decoded, 360 px of the 4032)
Printed: median and p90 milliseconds per photo, and the decode's share. Then the decode rate over a set of
photos made with the project's own tag maker: turned 0–345° in steps of 15°, tags from 200 to 600 px wide in
the 12 MP photo and at 1600×1200, phone-like recompression (1280 px, JPEG 60). Figures, not a timed test.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image

from bot.images import check_image, perceptual_hash, upright
from bot.sites.qr import read_codes
from tests.support.qr import phone_like, tag_photo

LIMIT = 50 * 1024 * 1024


def noisy(data: bytes) -> bytes:
    """Sensor noise, so the JPEG weighs what a phone's does (a few MB) and decodes as slowly."""
    image = Image.open(io.BytesIO(data)).convert("RGB")
    noise = Image.effect_noise(image.size, 24).convert("RGB")
    out = io.BytesIO()
    Image.blend(image, noise, 0.12).save(out, "JPEG", quality=92)
    return out.getvalue()


def timed(work: Callable[[], object], rounds: int) -> list[float]:
    work()
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        work()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def intake(data: bytes, qr: bool) -> None:
    kept, _ = upright(data, check_image(data, LIMIT))
    perceptual_hash(kept)
    if qr:
        read_codes(kept)


def line(name: str, samples: list[float], base: float) -> str:
    median = statistics.median(samples)
    p90 = sorted(samples)[int(len(samples) * 0.9) - 1]
    return f"{name:<14} median {median:7.1f} ms   p90 {p90:7.1f} ms   {median / base:4.2f}x intake"


def decode_rate(size: tuple[int, int]) -> tuple[int, int, list[str]]:
    cases: list[tuple[str, bytes]] = []
    for angle in range(0, 360, 15):
        cases.append(
            (f"12MP 400px {angle}°", tag_photo("t1", "B3-E", size=size, tag_side=400, angle=angle, quality=85))
        )
    for side in (200, 250, 300, 360, 450, 600):
        cases.append((f"12MP {side}px", tag_photo("t1", "B3-E", size=size, tag_side=side, quality=85, seed=side)))
    for angle in range(0, 360, 45):
        photo = tag_photo("t1", "B3-E", tag_side=450, angle=angle, seed=angle)
        cases.append((f"phone {angle}°", phone_like(photo)))
        cases.append((f"1600x1200 {angle}°", photo))
    missed = [name for name, data in cases if read_codes(data) != ["WOBOT:t1:B3-E"]]
    return len(cases) - len(missed), len(cases), missed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--size", default="4032x3024")
    args = parser.parse_args()
    width, height = (int(n) for n in args.size.split("x"))
    plain = noisy(tag_photo("t1", "B3-E", size=(width, height), tag_side=1, quality=85))  # a 1 px "tag": no code
    tagged = noisy(tag_photo("t1", "B3-E", size=(width, height), tag_side=360, quality=85))
    assert read_codes(tagged) == ["WOBOT:t1:B3-E"] and read_codes(plain) == []
    base = timed(lambda: intake(plain, False), args.rounds)
    with_qr = timed(lambda: intake(plain, True), args.rounds)
    with_tag = timed(lambda: intake(tagged, True), args.rounds)
    decode = timed(lambda: read_codes(plain), args.rounds)
    b = statistics.median(base)
    print(f"photo {width}x{height} JPEG ({len(plain) / 1e6:.1f} MB), {args.rounds} rounds")
    print(line("intake", base, b))
    print(line("intake + qr", with_qr, b))
    print(line("intake + tag", with_tag, b))
    print(line("decode alone", decode, b))
    read, total, missed = decode_rate((width, height))
    print(
        f"decode rate: {read} of {total} photos ({100 * read / total:.0f}%)"
        + (f"; missed: {', '.join(missed)}" if missed else "")
    )


if __name__ == "__main__":
    main()
