"""What the engine's unit tests share: photos, the scripted VLM, reply helpers and whole flows on fakes."""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from PIL import Image

from bot.adapters.redis.store import SessionStore
from bot.config import Settings
from bot.dialogue.engine import Conversation
from bot.messages import TurnResult
from bot.ports import Analysis, Photo, Verdict
from bot.replies import say
from tests.support.engine import Chat, photo

ZH_TYPES = Settings().alarm_type_list
EN_TYPES = Settings(language="en").alarm_type_list
CHOICES_ZH = "\n".join(f"{i}. {t}" for i, t in enumerate(ZH_TYPES, 1))
CHOICES_EN = "\n".join(f"{i}. {t}" for i, t in enumerate(EN_TYPES, 1))
UNKNOWN_ORDER = "WO-20200101-ABCDE"


@functools.cache
def pic(seed: int = 1) -> bytes:
    """Cached synthetic photos: generating them is the slowest part of a turn."""
    return photo(seed)


def reencode(data: bytes, quality: int = 40, size: tuple[int, int] | None = None) -> bytes:
    img = Image.open(io.BytesIO(data)).convert("RGB")
    if size:
        img = img.resize(size)
    out = io.BytesIO()
    img.save(out, "JPEG", quality=quality)
    return out.getvalue()


def texts(result: TurnResult) -> list[str]:
    return [r.text for r in result.replies]


def joined(result: TurnResult) -> str:
    return "\n".join(texts(result))


# -- a scripted VLM ---------------------------------------------------------------------------------------
class ScriptedVlm:
    """Implements the Vlm port; answers from a script (the last entry repeats) and records every call."""

    def __init__(
        self,
        analyses: list[Analysis | BaseException] | None = None,
        verdicts: list[Verdict | BaseException] | None = None,
    ) -> None:
        self.analyses = list(analyses or [Analysis("漏水", "吊顶渗水，地面有积水。", "high", 0.9)])
        self.verdicts = list(verdicts or [Verdict(True, "地面已干燥，无渗水。")])
        self.analyze_calls: list[dict[str, Any]] = []
        self.verify_calls: list[dict[str, Any]] = []

    @staticmethod
    def _next(script: list[Any]) -> Any:
        item = script.pop(0) if len(script) > 1 else script[0]
        if isinstance(item, BaseException):
            raise item
        return item

    def analyze(self, photos: Sequence[Photo], alarm_types: tuple[str, ...], history: list[dict]) -> Analysis:
        call = {"photo": photos[0], "photos": list(photos), "alarm_types": alarm_types, "history": list(history)}
        self.analyze_calls.append(call)
        return self._next(self.analyses)

    def verify_fixed(self, before: Sequence[Photo], after: Photo, description: str, history: list[dict]) -> Verdict:
        call = {"before": before[0], "befores": list(before), "after": after, "description": description}
        self.verify_calls.append(call)
        return self._next(self.verdicts)


def session_of(store: SessionStore, chat: Chat) -> Any:
    return store.load(chat.key)


def report(chat: Chat, seed: int = 1, where: str = "3号楼2层东侧走廊", vlm: bool = False) -> str:
    """Run a whole report; return the new order's id."""
    chat.report_photo(pic(seed))
    if not vlm:
        chat.text("2")
    chat.text(where)
    result = chat.text("确认")
    assert result.order_id, texts(result)
    return result.order_id


def created(engine: Conversation, order_id: str, lang: str = "zh") -> str:
    """The "order created" reply, with its time in the default TIMEZONE."""
    order = engine.services.orders.get(order_id)
    assert order is not None
    when = order.created_at.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")
    return say(lang, "order_created", order_id=order_id, created=when)


def stored_files(storage_dir: str) -> list[Path]:
    root = Path(storage_dir)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def enter(chat: Chat, state: str, order_id: str) -> None:
    if state in ("waiting_location", "waiting_confirm"):
        chat.image(pic(1))  # the user has an open order: "a new report, or the fix?"
        chat.text("新报修")
    if state == "waiting_confirm":
        chat.text("1")
        chat.text("配电房")
    if state == "waiting_close_photo":
        chat.text(f"结单 {order_id}")
