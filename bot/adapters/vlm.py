"""The VLM adapter: any OpenAI-compatible chat.completions server that takes images.

The model is asked for JSON in the prompt only: many compatible servers reject
``response_format``. Its answer is then parsed leniently (bare, fenced, wrapped in
prose) and validated strictly, so the rest of the bot only ever sees an
:class:`Analysis` or :class:`Verdict` it can trust, or a :class:`VlmError`.

Photos are sent as :func:`bot.images.for_model` copies (``VLM_IMAGE_MAX_SIDE``), made here so the
dialogue keeps handing over the photos as stored. In ``url`` mode a copy that differs from the stored
photo is put in storage for the one call and deleted after it (see ``_Copies``): the link must show
the VLM the small copy, and a copy that outlives its call would need its own deletion rules.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import re
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, TypeVar

from bot.adapters.openai_calls import failures_as, report
from bot.config import Settings, catch_all_type
from bot.images import ImageRejected, for_model
from bot.ports import Analysis, ObjectStore, Photo, ServiceError, Severity, Verdict, Vlm, VlmError

log = logging.getLogger(__name__)
T = TypeVar("T")

OnCall = Callable[[str, float, bool], None]
"""A hook ``(kind, seconds, ok)`` called after every VLM call; kind is "analyze" or "verify_fixed"."""

MAX_DESCRIPTION_CHARS = 1000
MAX_REASON_CHARS = 1000
HISTORY_TURNS = 6  # the last turns given to the model as context
HISTORY_TURN_CHARS = 300

_SEVERITIES: tuple[Severity, ...] = ("low", "medium", "high")
_FENCE = re.compile(r"```[ \t]*(?:json|JSON)?[ \t]*\n?(.*?)```", re.DOTALL)

_LANGUAGE_NAME = {"zh": "Simplified Chinese (简体中文)", "en": "English"}

_ANALYZE_PROMPT = """\
You inspect photos sent by field staff (security guards, facility technicians, inspectors) \
who report a problem on site.
Classify the problem into exactly one of these alarm types (copy the chosen type verbatim):
{types}
If none fits, use "{fallback}".

Answer with JSON ONLY: one object, no code fence, no text before or after it, with exactly these keys:
{{"alarm_type": string, "description": string, "severity": "low" | "medium" | "high", "confidence": number}}
- alarm_type: one of the alarm types above, verbatim.
- description: one short paragraph in {language} describing what is visible and what the problem is.
- severity: "high" for danger to people or property now, "medium" for a fault that needs repair soon, \
"low" for a minor issue.
- confidence: your confidence in alarm_type, from 0 to 1."""

_SEVERAL_PHOTOS = "These {n} photos show one problem, from different angles. Describe it once."

_VERIFY_PROMPT = """\
You check whether a problem reported by field staff has been fixed.
You get photos of the same site: the report photo(s) showing the problem come first, \
the LAST photo was taken after the repair.
Decide whether the problem seen in the report photo(s) is resolved in the last one. \
If the last photo does not show the same place or object, it is not resolved.

Answer with JSON ONLY: one object, no code fence, no text before or after it, with exactly these keys:
{{"resolved": true | false, "reason": string}}
- reason: one or two sentences in {language} explaining the decision."""


class OpenAIVlm:
    """:class:`bot.ports.Vlm` over the ``openai`` client; one client per instance, made here, not at import."""

    def __init__(self, settings: Settings, on_call: OnCall | None = None, store: ObjectStore | None = None) -> None:
        self._settings = settings
        self._on_call = on_call
        self._store = store  # url mode: where the scaled copies are linked from; None sends them inline
        # Imported here, not at the top: the SDK takes about a second to import, which every gunicorn worker
        # would pay at boot (while requests queue) even when no VLM is configured.
        import openai

        # No retries: the timeout is the user's wait; they can retry themselves.
        self._client = openai.OpenAI(
            base_url=settings.vlm_base_url,
            api_key=settings.vlm_api_key or "none",
            timeout=settings.vlm_timeout_seconds,
            max_retries=0,
        )

    def analyze(self, photos: Sequence[Photo], alarm_types: tuple[str, ...], history: list[dict[str, Any]]) -> Analysis:
        """Describe the problem the ``photos`` of one report show, pick one of ``alarm_types``. Raises VlmError."""
        types = tuple(alarm_types) or self._settings.alarm_type_list
        fallback = catch_all_type(types)
        system = _ANALYZE_PROMPT.format(
            types="\n".join(f"- {t}" for t in types),
            fallback=fallback,
            language=_LANGUAGE_NAME.get(self._settings.language, "English"),
        )
        ask = "Describe the problem in this photo." if len(photos) == 1 else _SEVERAL_PHOTOS.format(n=len(photos))
        user: list[dict[str, Any]] = [{"type": "text", "text": _with_history(ask, history)}]
        with _Copies(self._store) as copies:
            user += [self._image_part(photo, copies) for photo in photos]
            return self._call("analyze", system, user, lambda answer: parse_analysis(answer, types, fallback))

    def verify_fixed(
        self, before: Sequence[Photo], after: Photo, description: str, history: list[dict[str, Any]]
    ) -> Verdict:
        """Ask whether the problem in the report photos ``before`` (sent first) is gone in ``after``.
        Raises VlmError."""
        system = _VERIFY_PROMPT.format(language=_LANGUAGE_NAME.get(self._settings.language, "English"))
        text = _with_history(f"The reported problem: {description.strip()[:MAX_DESCRIPTION_CHARS]}", history)
        user: list[dict[str, Any]] = [{"type": "text", "text": text}]
        with _Copies(self._store) as copies:
            for n, photo in enumerate(before, 1):
                label = "the report, before the repair" if len(before) == 1 else f"report photo {n} of {len(before)}"
                user += [{"type": "text", "text": f"Photo {n} ({label}):"}, self._image_part(photo, copies)]
            after_part = self._image_part(after, copies)
            user += [{"type": "text", "text": f"Photo {len(before) + 1} (after the repair):"}, after_part]
            return self._call("verify_fixed", system, user, parse_verdict)

    # -- internals ---------------------------------------------------------------------------

    def _image_part(self, photo: Photo, copies: _Copies) -> dict[str, Any]:
        """The photo as the VLM gets it: the scaled copy inline, or a link to the photo or to the copy."""
        if not photo.data:
            raise VlmError("the photo is empty")
        data, content_type = photo.data, photo.content_type or "image/jpeg"
        max_side, quality = self._settings.vlm_image_max_side, self._settings.vlm_image_quality
        if max_side:
            try:
                data, content_type = for_model(data, max_side, quality)
            except ImageRejected:
                raise VlmError("a photo does not decode as an image") from None
        url = None
        if self._settings.vlm_image_mode == "url" and photo.url:
            url = photo.url if data is photo.data else copies.link(data, content_type)
        if url is None:
            url = f"data:{content_type};base64,{base64.b64encode(data).decode('ascii')}"
        return {"type": "image_url", "image_url": {"url": url}}

    def _call(self, kind: str, system: str, user: list[dict[str, Any]], parse: Callable[[str], T]) -> T:
        started = time.monotonic()
        ok = False
        try:
            answer = self._complete(system, user)
            result = parse(answer)
            ok = True
            log.info("vlm %s ok in %.2f s", kind, time.monotonic() - started)
            return result
        except VlmError as exc:
            log.warning("vlm %s failed after %.2f s: %s", kind, time.monotonic() - started, exc)
            raise
        finally:
            report(self._on_call, kind, time.monotonic() - started, ok)

    def _complete(self, system: str, user: list[dict[str, Any]]) -> str:
        """One chat.completions call; every client failure becomes a VlmError with a short reason."""

        with failures_as(VlmError, "the VLM server", self._settings.vlm_timeout_seconds):
            response = self._client.chat.completions.create(
                model=self._settings.vlm_model,
                messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],  # type: ignore[list-item,misc]
            )
        choices = getattr(response, "choices", None)
        if not isinstance(choices, list) or not choices:
            raise VlmError("the VLM answer has no choices")
        message = getattr(choices[0], "message", None)
        content = _content_text(getattr(message, "content", None))
        if not content or not content.strip():
            refused = getattr(message, "refusal", None)
            raise VlmError("the VLM refused to answer" if refused else "the VLM answer is empty")
        return content


def build_vlm(settings: Settings, on_call: OnCall | None = None, store: ObjectStore | None = None) -> Vlm | None:
    """The configured VLM, or None when VLM_BASE_URL is empty (the user then picks the type by hand).

    ``store`` is the photos' storage: in url mode the scaled copies are linked from it."""
    if not settings.vlm_base_url:
        return None
    return OpenAIVlm(settings, on_call=on_call, store=store)


class _Copies:
    """The scaled copies one VLM call links to: put on demand, deleted when the call is over.

    A copy that cannot be put is sent inline instead (the user still gets an answer); one that cannot be
    deleted is logged and left (its key is unguessable and nothing refers to it)."""

    def __init__(self, store: ObjectStore | None) -> None:
        self._store = store
        self._keys: list[str] = []

    def link(self, data: bytes, content_type: str) -> str | None:
        """A presigned link to a stored copy of ``data``, or None to send it inline."""
        if self._store is None:
            return None
        try:
            key = self._store.put(data, content_type)
        except (ServiceError, OSError) as exc:
            log.warning("vlm copy not stored, sent inline: %s", exc)
            return None
        self._keys.append(key)
        try:
            return self._store.url(key)
        except ServiceError as exc:
            log.warning("vlm copy not linked, sent inline: %s", exc)
            return None

    def __enter__(self) -> _Copies:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._store is None:
            return
        for key in self._keys:
            try:
                self._store.delete(key)
            except (ServiceError, OSError) as error:
                log.warning("vlm copy not deleted: %s", error)


# -- parsing: pure functions, tested without a server -------------------------------------------


def extract_json(text: str) -> dict[str, Any]:
    """The first JSON object in a model's answer: bare, in a ``` fence, or with prose around it."""
    if not isinstance(text, str) or not text.strip():
        raise VlmError("the VLM answer is empty")
    candidates = [text.strip(), *(m.group(1).strip() for m in _FENCE.finditer(text))]
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", text):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    raise VlmError("the VLM answer is not a JSON object")


def parse_analysis(text: str, alarm_types: tuple[str, ...], fallback: str) -> Analysis:
    """Validate an analyze answer; an unknown alarm type becomes ``fallback``. Raises VlmError."""
    data = extract_json(text)
    raw_type = data.get("alarm_type")
    if not isinstance(raw_type, str):
        raise VlmError("the VLM answer has no alarm_type")
    description = data.get("description")
    if not isinstance(description, str) or not description.strip():
        raise VlmError("the VLM answer has no description")
    return Analysis(
        alarm_type=match_alarm_type(raw_type, alarm_types, fallback),
        description=_cap(description, MAX_DESCRIPTION_CHARS),
        severity=_severity(data.get("severity")),
        confidence=_confidence(data.get("confidence")),
    )


def parse_verdict(text: str) -> Verdict:
    """Validate a verify_fixed answer. Raises VlmError."""
    data = extract_json(text)
    resolved = data.get("resolved")
    if isinstance(resolved, str) and resolved.strip().lower() in ("true", "false"):
        resolved = resolved.strip().lower() == "true"
    if not isinstance(resolved, bool):
        raise VlmError("the VLM answer has no true/false resolved")
    reason = data.get("reason")
    if not isinstance(reason, str):
        raise VlmError("the VLM answer has no reason")
    return Verdict(resolved=resolved, reason=_cap(reason, MAX_REASON_CHARS))


def match_alarm_type(answer: str, alarm_types: tuple[str, ...], fallback: str) -> str:
    """The configured type the model meant: exact after trimming and case-folding, else one "/"-part of it."""
    wanted = _norm(answer)
    if not wanted:
        return fallback
    for alarm_type in alarm_types:
        if _norm(alarm_type) == wanted:
            return alarm_type
    for alarm_type in alarm_types:  # "fire" for "fire/smoke", "烟雾" for "火情/烟雾"
        if wanted in (_norm(part) for part in alarm_type.split("/")):
            return alarm_type
    return fallback


def _norm(value: str) -> str:
    return " ".join(value.strip().strip("\"'").split()).casefold()


def _severity(value: Any) -> Severity:
    if isinstance(value, str):
        wanted = value.strip().lower()
        for severity in _SEVERITIES:
            if severity == wanted:
                return severity
    return "medium"


def _confidence(value: Any) -> float:
    if value is None or isinstance(value, bool):
        return 0.5
    if isinstance(value, str):
        try:
            value = float(value.strip().rstrip("%")) / (100 if value.strip().endswith("%") else 1)
        except ValueError:
            return 0.5
    if not isinstance(value, int | float) or math.isnan(value):
        return 0.5
    return min(1.0, max(0.0, float(value)))


def _cap(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _content_text(content: Any) -> str | None:
    """Message content as text; a few compatible servers send a list of parts instead of a string."""
    if isinstance(content, str) or content is None:
        return content
    if isinstance(content, list):
        parts = [p.get("text") if isinstance(p, dict) else getattr(p, "text", None) for p in content]
        return "".join(p for p in parts if isinstance(p, str))
    return None


def _with_history(text: str, history: list[dict[str, Any]]) -> str:
    """Prefix the last turns of the chat as plain text; photos appear as a marker, never as bytes."""
    lines = []
    for turn in (history or [])[-HISTORY_TURNS:]:
        if not isinstance(turn, dict):
            continue
        who = "bot" if turn.get("role") == "bot" else "user"
        said = turn.get("text")
        said = " ".join(said.split())[:HISTORY_TURN_CHARS] if isinstance(said, str) else ""
        if turn.get("image_key"):
            said = f"[photo] {said}".strip()
        if said:
            lines.append(f"{who}: {said}")
    if not lines:
        return text
    return "Recent conversation (context only):\n" + "\n".join(lines) + "\n\n" + text
