"""What taking a photo in costs now that phones' photos are normalised, beside the check it replaced.

    .venv/bin/python bench/photo_intake.py [--rounds 30] [--size 4032x3024]

Per photo, on a synthetic phone-sized picture (default 12 MP, the size of a phone camera's photo):
  baseline   ``check_image`` (magic bytes) + ``perceptual_hash``: what a photo cost before (the close
             check hashes it; a report photo was stored as it came)
  upright    ``check_image`` + ``upright`` on a JPEG already upright (reads the EXIF header only)
  sideways   the same on a JPEG with EXIF orientation 6 (decoded, turned, re-encoded as JPEG)
  heic       the same on the picture as HEIC (decoded with pillow-heif, re-encoded as JPEG)
Printed: median and p90 milliseconds per photo, and each as a multiple of the baseline, measured in
the same run. Figures, not a timed test: machines are noisy.
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pillow_heif
from PIL import Image, ImageDraw

from bot.images import check_image, perceptual_hash, upright

LIMIT = 50 * 1024 * 1024


def scene(size: tuple[int, int]) -> Image.Image:
    rng = random.Random(7)
    img = Image.new("RGB", size, (90, 110, 130))
    draw = ImageDraw.Draw(img)
    for _ in range(60):
        x0, y0 = rng.randrange(size[0]), rng.randrange(size[1])
        draw.rectangle((x0, y0, x0 + rng.randrange(50, 900), y0 + rng.randrange(50, 700)), fill=tuple(rng.randbytes(3)))
    return img


def encoded(img: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **options)
    return out.getvalue()


def timed(work: Callable[[], object], rounds: int) -> list[float]:
    work()  # warm-up
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        work()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--size", default="4032x3024")
    args = parser.parse_args()
    width, height = (int(n) for n in args.size.split("x"))
    img = scene((width, height))
    jpeg = encoded(img, "JPEG", quality=90)
    exif = Image.Exif()
    exif[0x0112] = 6
    tagged = encoded(img.rotate(90, expand=True), "JPEG", quality=90, exif=exif.tobytes())
    pillow_heif.register_heif_opener()
    heic = encoded(img, "HEIF", quality=80)

    def intake(data: bytes) -> Callable[[], object]:
        return lambda: upright(data, check_image(data, LIMIT))

    cases = {
        "baseline": lambda: (check_image(jpeg, LIMIT), perceptual_hash(jpeg)),
        "upright": intake(jpeg),
        "sideways": intake(tagged),
        "heic": intake(heic),
    }
    results = {name: timed(work, args.rounds) for name, work in cases.items()}
    base = statistics.median(results["baseline"])
    sizes = f"JPEG {len(jpeg) // 1024} KB, HEIC {len(heic) // 1024} KB"
    print(f"photo intake, {width}x{height} px, {args.rounds} rounds ({sizes})")
    print(f"{'case':<10} {'p50 ms':>8} {'p90 ms':>8} {'x baseline':>11}")
    for name, samples in results.items():
        p50, p90 = statistics.median(samples), statistics.quantiles(samples, n=10)[-1]
        print(f"{name:<10} {p50:>8.1f} {p90:>8.1f} {p50 / base:>11.2f}")


if __name__ == "__main__":
    main()
