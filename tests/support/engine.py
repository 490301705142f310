"""Helpers shared by the tests: stores, photos, and a chat that drives the engine like one user."""

from __future__ import annotations

import io
import os
import random
from typing import Any

import redis

from bot.adapters.redis.store import SessionStore
from bot.config import Settings
from bot.dialogue.engine import Conversation
from bot.messages import Incoming, Location, TurnResult, session_key

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def store_for(client: redis.Redis, settings: Settings) -> SessionStore:
    return SessionStore(client, settings)


def wipe_prefix(client: redis.Redis, prefix: str) -> None:
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    for start in range(0, len(keys), 500):
        client.delete(*keys[start : start + 500])


def photo(seed: int = 1, size: tuple[int, int] = (320, 240), fmt: str = "JPEG", quality: int = 90) -> bytes:
    """A synthetic scene, different for every seed, as image bytes."""
    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    img = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(img)
    for _ in range(12):
        x0, y0 = rng.randrange(size[0]), rng.randrange(size[1])
        x1, y1 = x0 + rng.randrange(20, 160), y0 + rng.randrange(20, 120)
        draw.rectangle((x0, y0, x1, y1), fill=tuple(rng.randrange(256) for _ in range(3)))
    out = io.BytesIO()
    img.save(out, fmt, **({"quality": quality} if fmt == "JPEG" else {}))
    return out.getvalue()


def heic(data: bytes) -> bytes:
    """A picture as an iPhone stores it (HEIC), made with pillow-heif from ``data``."""
    import pillow_heif
    from PIL import Image

    pillow_heif.register_heif_opener()
    out = io.BytesIO()
    Image.open(io.BytesIO(data)).save(out, format="HEIF", quality=90)
    return out.getvalue()


class Chat:
    """Drive the engine like one user would: ``chat.text("确认")`` returns the TurnResult."""

    def __init__(
        self, engine: Conversation, user: str = "u1", platform: str = "test", tenant: str = "t1", group: str = ""
    ) -> None:
        """``group``: a group chat's id, for a user talking in that group (every message mentions the bot
        unless sent with ``addressed=False``)."""
        self.engine, self.user, self.platform, self.tenant, self.group = engine, user, platform, tenant, group
        self.last: TurnResult | None = None

    def _send(self, **fields: Any) -> Any:
        if self.group:
            fields = {"chat": self.group, "group": True, **fields}
        self.last = self.engine.handle(Incoming(platform=self.platform, tenant=self.tenant, user=self.user, **fields))
        return self.last

    def buttons(self, result: TurnResult | None = None) -> dict[str, str]:
        """label → choice id of the buttons the bot's last answer (or ``result``) carries."""
        answer = result or self.last
        return {c.label: c.id for c in answer.choices} if answer else {}

    def tap(self, label: str, result: TurnResult | None = None, event_id: str | None = None) -> Any:
        """Tap the button labelled ``label`` of the last answer (or of ``result``, an older card)."""
        buttons = self.buttons(result)
        assert label in buttons, f"no button {label!r} in {list(buttons)}"
        return self.action(buttons[label], event_id)

    def action(self, choice_id: str, event_id: str | None = None) -> Any:
        return self._send(kind="action", action=choice_id, event_id=event_id)

    def report_photo(self, data: bytes) -> Any:
        """A photo that starts a report: with open orders the bot first asks "new report, or a fix?"."""
        result = self.image(data)
        new = next((c.id for c in result.choices if c.id.endswith(".new")), None)
        return self.action(new) if new else result

    def text(self, text: str, event_id: str | None = None, **fields: Any) -> Any:
        return self._send(kind="text", text=text, event_id=event_id, **fields)

    def image(self, data: bytes, event_id: str | None = None, problem: str | None = None, **fields: Any) -> Any:
        """A photo message; ``more_images``, ``sent_at``, ``addressed``, ``thread`` may be given too."""
        return self._send(kind="image", image=data, event_id=event_id, image_problem=problem, **fields)

    def location(self, label: str = "", lat: float | None = None, lng: float | None = None) -> Any:
        return self._send(kind="location", location=Location(label, lat, lng))

    def other(self, kind: str = "other") -> Any:
        return self._send(kind=kind)

    @property
    def key(self) -> str:
        return session_key(self.platform, self.tenant, self.user, self.group)
