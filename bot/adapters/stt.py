"""The speech-to-text adapter: any OpenAI-compatible ``POST {base}/audio/transcriptions`` (OpenAI's whisper-1,
faster-whisper servers, vLLM serving Whisper, FunASR/SenseVoice gateways).

The note is made ready first (``bot.adapters.audio``: sniffed, measured, AMR converted to WAV), so a note
that cannot be sent is refused (``VoiceRejected``) before any request, and the service only ever gets a
file named by its real container.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from bot.adapters.audio import PreparedAudio, prepare
from bot.adapters.openai_calls import failures_as, report
from bot.config import Settings
from bot.ports import Stt, SttError, Transcript

log = logging.getLogger(__name__)

OnCall = Callable[[float, bool], None]
"""A hook ``(seconds, ok)`` called after every transcription request."""

MAX_TRANSCRIPT_CHARS = 4000  # a note of MAX_VOICE_SECONDS never says more; a longer answer is cut


class OpenAIStt:
    """:class:`bot.ports.Stt` over the ``openai`` client; one client per instance, made here, not at import."""

    def __init__(self, settings: Settings, on_call: OnCall | None = None) -> None:
        self._settings = settings
        self._on_call = on_call
        # Imported here, not at the top: the SDK takes about a second to import and FFmpeg's libraries are
        # large; a process without STT_BASE_URL pays for neither. A missing PyAV fails here, at start-up.
        import av  # noqa: F401
        import openai

        # No retries: the timeout is the user's wait; they can send the note again or type.
        self._client = openai.OpenAI(
            base_url=settings.stt_base_url,
            api_key=settings.stt_api_key or "none",
            timeout=settings.stt_timeout_seconds,
            max_retries=0,
        )

    def transcribe(self, audio: bytes, *, language: str, prompt: str) -> Transcript:
        """The words of a voice note. Raises VoiceRejected before any request, SttError for the service."""
        note = prepare(audio, self._settings.max_voice_seconds)
        started = time.monotonic()
        ok = False
        try:
            text = self._request(note, language, prompt)
            ok = True
        except SttError as exc:
            log.warning("stt failed after %.2f s: %s", time.monotonic() - started, exc)
            raise
        finally:
            report(self._on_call, time.monotonic() - started, ok)
        log.info(
            "stt ok in %.2f s (%.1f s of %s%s)",
            time.monotonic() - started,
            note.seconds,
            note.container,
            " as wav" if note.converted else "",
        )
        return Transcript(text, note.seconds)

    def _request(self, note: PreparedAudio, language: str, prompt: str) -> str:
        """One transcription call; every client failure becomes an SttError with a short reason."""
        optional: dict[str, Any] = {}
        if language:
            optional["language"] = language  # ISO 639-1: spares the model guessing from a few seconds
        if prompt:
            optional["prompt"] = prompt
        with failures_as(SttError, "the speech service", self._settings.stt_timeout_seconds):
            response = self._client.audio.transcriptions.create(
                model=self._settings.stt_model, file=(note.filename, note.data), **optional
            )
        text = response if isinstance(response, str) else getattr(response, "text", None)
        if not isinstance(text, str) or not text.strip():
            raise SttError("the speech service heard no words")
        return " ".join(text.split())[:MAX_TRANSCRIPT_CHARS]


def build_stt(settings: Settings, on_call: OnCall | None = None) -> Stt | None:
    """The configured speech-to-text, or None when STT_BASE_URL is empty (voice notes are then not heard)."""
    if not settings.stt_base_url:
        return None
    return OpenAIStt(settings, on_call=on_call)
