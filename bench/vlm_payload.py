"""What a VLM request carries, with the photo as stored and with the copy ``for_model`` makes.

    .venv/bin/python bench/vlm_payload.py [--rounds 10] [--max-side 1536] [--quality 85]

A synthetic 12 MP phone photo (4000x3000 JPEG at quality 92: gradients, blurred shapes and sensor-like
noise, 3-4 MB) and a burst of four different ones go through the real ``OpenAIVlm`` and ``openai``
client to the tests' FakeOpenAI, which records the bodies. Printed, before (``VLM_IMAGE_MAX_SIDE=0``)
and after (scaled):
  bytes      the JSON body of the chat.completions request, as sent
  openai     image tokens by OpenAI's high-detail rule: fit in 2048x2048, then the short side down to
             768, then 170 per 512-px tile + 85 (per image)
  qwen       image tokens by Qwen2-VL / Qwen2.5-VL's ``smart_resize`` with the processor's defaults
             (min_pixels 4*28*28, max_pixels 16384*28*28): each side rounded to a multiple of 28,
             shrunk or grown to stay within those, then one token per 28x28 patch (the 14-px patches
             merged 2x2); the vision start/end tokens are left out
and the CPU time per photo of the intake steps beside a full decode, measured in the same run:
  decode     ``Image.open(...).load()``: every pixel decoded (the baseline)
  upright    ``check_image`` + ``upright`` on an upright JPEG (reads the EXIF header only)
  hash       ``perceptual_hash`` (decodes at 1/8 scale)
  scale      ``for_model`` (decodes at 1/2 scale, resizes, encodes the JPEG)
Figures, not a timed test: machines are noisy.
"""

from __future__ import annotations

import argparse
import base64
import io
import math
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image, ImageDraw, ImageFilter

from bot.adapters.vlm import OpenAIVlm
from bot.config import Settings
from bot.images import check_image, for_model, perceptual_hash, upright
from bot.ports import Photo
from tests.fakes.openai_server import FakeOpenAI

SIZE = (4000, 3000)
LIMIT = 50 * 1024 * 1024
TYPES = ("water leak", "other")


def phone_photo(seed: int) -> bytes:
    """Smooth light, a few blurred objects and per-channel noise, encoded as a phone camera does."""
    rng = random.Random(seed)
    width, height = SIZE
    channels = [Image.linear_gradient("L").rotate(rng.randrange(360)).resize(SIZE) for _ in range(3)]
    img = Image.merge("RGB", channels)
    draw = ImageDraw.Draw(img)
    for _ in range(40):
        x, y = rng.randrange(width), rng.randrange(height)
        draw.ellipse((x, y, x + rng.randrange(100, 900), y + rng.randrange(100, 700)), fill=tuple(rng.randbytes(3)))
    img = img.filter(ImageFilter.GaussianBlur(3))
    noise = Image.merge("RGB", [Image.effect_noise(SIZE, 30) for _ in range(3)])
    out = io.BytesIO()
    Image.blend(img, noise, 0.24).save(out, "JPEG", quality=92)
    return out.getvalue()


def openai_tokens(width: int, height: int) -> int:
    if max(width, height) > 2048:
        ratio = 2048 / max(width, height)
        width, height = width * ratio, height * ratio
    if min(width, height) > 768:
        ratio = 768 / min(width, height)
        width, height = width * ratio, height * ratio
    return 170 * math.ceil(width / 512) * math.ceil(height / 512) + 85


def qwen_tokens(width: int, height: int, factor: int = 28) -> int:
    min_pixels, max_pixels = 4 * 28 * 28, 16384 * 28 * 28
    h_bar = max(factor, round(height / factor) * factor)
    w_bar = max(factor, round(width / factor) * factor)
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h_bar = math.floor(height / beta / factor) * factor
        w_bar = math.floor(width / beta / factor) * factor
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return (h_bar // factor) * (w_bar // factor)


def sent(server: FakeOpenAI, settings: Settings, photos: list[bytes]) -> tuple[int, int, int]:
    """(body bytes, OpenAI tokens, Qwen tokens) of one analyze request for ``photos``."""
    server.reset()
    OpenAIVlm(settings).analyze([Photo(p, "image/jpeg") for p in photos], TYPES, [])
    (request,) = server.requests
    sizes = []
    for url in request.image_urls:
        with Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))) as img:
            sizes.append(img.size)
    return len(request.body), sum(openai_tokens(*s) for s in sizes), sum(qwen_tokens(*s) for s in sizes)


def timed(work: Callable[[], object], rounds: int) -> float:
    work()  # warm-up
    samples = []
    for _ in range(rounds):
        started = time.process_time()
        work()
        samples.append((time.process_time() - started) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--max-side", type=int, default=1536)
    parser.add_argument("--quality", type=int, default=85)
    args = parser.parse_args()
    burst = [phone_photo(seed) for seed in range(1, 5)]
    one = burst[0]
    megabytes = f"{len(one) / 1e6:.2f} MB (burst: {sum(map(len, burst)) / 1e6:.2f} MB)"
    print(f"VLM payload: {SIZE[0]}x{SIZE[1]} JPEG q92, {megabytes}")
    print(f"after: VLM_IMAGE_MAX_SIDE={args.max_side}, VLM_IMAGE_QUALITY={args.quality}")
    print(f"{'request':<16} {'':<7} {'body bytes':>12} {'openai tok':>11} {'qwen tok':>9}")
    with FakeOpenAI() as server:
        settings = Settings(vlm_base_url=server.base_url, vlm_timeout_seconds=60, language="en")
        scaled = settings.with_(vlm_image_max_side=args.max_side, vlm_image_quality=args.quality)
        for name, photos in (("1 photo", [one]), ("burst of 4", burst)):
            for label, s in (("before", settings.with_(vlm_image_max_side=0)), ("after", scaled)):
                body, openai, qwen = sent(server, s, photos)
                print(f"{name:<16} {label:<7} {body:>12,} {openai:>11,} {qwen:>9,}")
    steps: dict[str, Callable[[], object]] = {
        "decode": lambda: Image.open(io.BytesIO(one)).load(),
        "upright": lambda: upright(one, check_image(one, LIMIT)),
        "hash": lambda: perceptual_hash(one),
        "scale": lambda: for_model(one, args.max_side, args.quality),
    }
    cpu = {name: timed(work, args.rounds) for name, work in steps.items()}
    print(f"\nCPU per photo (process time, median of {args.rounds})")
    print(f"{'step':<8} {'ms':>8} {'x decode':>9}")
    for name, ms in cpu.items():
        print(f"{name:<8} {ms:>8.1f} {ms / cpu['decode']:>9.2f}")


if __name__ == "__main__":
    main()
