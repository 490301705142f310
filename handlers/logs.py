"""Logging set-up: plain text by default, one JSON object per line with LOG_FORMAT=json.

Turn code logs with ``extra={"session": key, "event_id": id}``; both formats show them.
"""

from __future__ import annotations

import json
import logging
import time

from bot.config import Settings

_CONTEXT_FIELDS = ("session", "event_id", "platform")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name in _CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = " ".join(f"{n}={getattr(record, n)}" for n in _CONTEXT_FIELDS if getattr(record, n, None))
        return f"{line} [{context}]" if context else line


def configure_logging(settings: Settings) -> None:
    root = logging.getLogger()
    formatter = JsonFormatter() if settings.log_format == "json" else TextFormatter()
    handler = next((h for h in root.handlers if getattr(h, "_wobot", False)), None)
    if handler is None:
        handler = logging.StreamHandler()
        handler._wobot = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    handler.setFormatter(formatter)
    root.setLevel(settings.log_level.upper())
    # Client libraries log request URLs at DEBUG/INFO, and some URLs carry access tokens.
    for noisy in ("urllib3", "httpx", "openai", "botocore", "boto3", "transitions"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
