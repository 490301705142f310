"""``bot.ports.Nlu`` over an OpenAI-compatible chat completions endpoint: free text read among a state's intents.

Asked only for text the keyword rules leave to their fallback. One short call per new text (answers are kept
per process, keyed by the folded text and what it was offered), validated as the VLM's answers are: what the
model says is used only when it is one of the intents offered, with the slot that intent needs.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bot.adapters.openai_calls import failures_as, report
from bot.adapters.vlm import extract_json
from bot.config import Settings
from bot.orders.ids import ORDER_REF
from bot.ports import ORDER_INTENTS, UNSURE, Nlu, NluError, Reading, VlmError

log = logging.getLogger(__name__)

OnCall = Callable[[float, str], None]  # (seconds, outcome: "read" | "unsure" | "error")

CACHE_SIZE = 4096  # readings kept per process; a field team's phrasings repeat
MIN_CONFIDENCE = 0.6
MAX_PLACE_CHARS = 200
_REF = re.compile(rf"^{ORDER_REF}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

_PROMPT = """\
You read one short chat message a field worker sent to a work-order bot and say what it means.
The bot accepts only these intents now:
{intents}
The kinds of problem (alarm types) are: {types}

Answer with JSON ONLY: one object, no code fence, no text around it, with exactly these keys:
{{"intent": one of the intent names above or "unsure", "place": string, "alarm_type": string,
"order_ref": string, "confidence": number from 0 to 1}}
- place: for "place", the words of the message that say where (otherwise "").
- alarm_type: for "choose_type", exactly one of the alarm types listed (otherwise "").
- order_ref: for an intent about one order, the order id, its last 5 characters or a list number (otherwise "").
- If the message could mean several things, or none of the intents, answer "unsure"."""


class OpenAINlu:
    """One client per instance, made here (the SDK is imported when a model is configured, not at import)."""

    def __init__(self, settings: Settings, on_call: OnCall | None = None) -> None:
        endpoint = settings.nlu_endpoint
        if endpoint is None:
            raise ValueError("no language model is configured (NLU_BASE_URL, or the VLM's)")
        url, key, self._model = endpoint
        self._timeout = settings.nlu_timeout_seconds
        self._on_call = on_call
        self._cache: OrderedDict[tuple[str, tuple[str, ...], tuple[str, ...]], Reading] = OrderedDict()
        self._lock = threading.Lock()
        import openai

        # No retries: the user is waiting, and a slow or failed reading only means the bot asks instead.
        self._client = openai.OpenAI(base_url=url, api_key=key or "none", timeout=self._timeout, max_retries=0)

    def read(self, text: str, intents: Mapping[str, str], alarm_types: Sequence[str]) -> Reading:
        cache_key = (text, tuple(intents), tuple(alarm_types))
        with self._lock:
            if (cached := self._cache.get(cache_key)) is not None:
                self._cache.move_to_end(cache_key)
                return cached
        started = time.monotonic()
        try:
            answer = self._complete(text, intents, alarm_types)
            reading = parse_reading(answer, intents, alarm_types)
        except NluError as exc:
            report(self._on_call, time.monotonic() - started, "error")
            log.warning("language model reading failed after %.2f s: %s", time.monotonic() - started, exc)
            raise
        report(self._on_call, time.monotonic() - started, "unsure" if reading == UNSURE else "read")
        with self._lock:
            self._cache[cache_key] = reading
            if len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return reading

    def _complete(self, text: str, intents: Mapping[str, str], alarm_types: Sequence[str]) -> str:
        system = _PROMPT.format(
            intents="\n".join(f"- {name}: {meaning}" for name, meaning in intents.items()),
            types=", ".join(alarm_types),
        )
        with failures_as(NluError, "the language model", self._timeout):
            response = self._client.chat.completions.create(
                model=self._model,
                messages=[{"role": "system", "content": system}, {"role": "user", "content": text}],
                temperature=0,
            )
        choices = getattr(response, "choices", None)
        message = getattr(choices[0], "message", None) if isinstance(choices, list) and choices else None
        content = getattr(message, "content", None)
        if not isinstance(content, str) or not content.strip():
            raise NluError("the language model answer is empty")
        return content


def build_nlu(settings: Settings, on_call: OnCall | None = None) -> Nlu | None:
    """The configured language model, or None (the bot then asks where its rules are not sure)."""
    return OpenAINlu(settings, on_call) if settings.nlu_endpoint is not None else None


# -- parsing: a pure function, tested without a server ----------------------------------------------------


def parse_reading(text: str, intents: Mapping[str, str], alarm_types: Sequence[str]) -> Reading:
    """The model's answer as a ``Reading``; ``UNSURE`` for anything not offered, not listed, missing or doubtful.
    NluError when the answer holds no JSON object at all."""
    try:
        data = extract_json(text)
    except VlmError:
        raise NluError("the language model's answer holds no JSON object") from None
    intent = data.get("intent")
    if not isinstance(intent, str) or intent not in intents:
        return UNSURE
    if _confidence(data.get("confidence")) < MIN_CONFIDENCE:
        return UNSURE
    if intent == "place":
        place = _CONTROL.sub("", _text(data.get("place"))).strip()[:MAX_PLACE_CHARS]
        return Reading(intent, place=place) if place else UNSURE
    if intent == "choose_type":
        said = _text(data.get("alarm_type")).strip().lower()
        listed = next((t for t in alarm_types if t.lower() == said), None)
        return Reading(intent, alarm_type=listed) if listed else UNSURE
    found = _REF.match(_text(data.get("order_ref")).strip())
    ref = found.group(1) if found else ""
    if intent in ORDER_INTENTS and not ref:
        return UNSURE
    return Reading(intent, order_ref=ref)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _confidence(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 1.0 if value is None else 0.0  # a model that leaves it out is taken at its word
    return float(value)
