"""Logging set-up: plain text by default, one JSON object per line with LOG_FORMAT=json.

Turn code logs with ``extra={"session": key, "event_id": id}``; both formats show them.
``turn_context(incoming)`` puts the user key and event id on *every* line logged while
a turn runs, in any module (a log-record factory reads a context variable), and
``ContextualEngine`` opens that context around each ``engine.handle``. Formatters
scrub secret *values* from every line: the ones this deployment is configured with, wherever
they appear, and credential-shaped ones (``Bearer <value>``, ``token=<value>``), so a library
that logs a URL with an access token in it cannot leak it. Words stay: "bearer token" in a
sentence is prose, not a credential.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click
from flask import current_app

from bot.config import Settings
from bot.dialogue.engine import Deliver, Engine, FetchImage, FetchVoice
from bot.dialogue.machine import IDLE
from bot.messages import Incoming, TurnResult
from bot.session import Session

_CONTEXT_FIELDS = ("session", "event_id", "platform")
SLOW_TURN_SECONDS = 1.0  # a turn this slow is logged at INFO even when it was chatter
_context: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("wobot_log_context", default=None)
_KEY_VALUE = re.compile(r"(?i)((?:access_token|token|secret|password|signature|sig|key)=)[^\s&\"',;]+")
# After "Bearer": RFC 6750's token characters, and only a value shaped like a credential. A plain word is
# the sentence going on ("on (bearer token)", "a bearer token."), not a secret.
_BEARER_VALUE = re.compile(
    r"""(?ix) (\bbearer\s+)
    (?= [a-z]*[0-9]                 # a digit in it
      | [a-z]*[._~+/-][a-z0-9]      # a symbol inside it (not a full stop ending the sentence)
      | [a-z]{20} )                 # or too long for a word
    [a-z0-9._~+/-]+=*"""
)
# In an Authorization header the value is a credential, whatever it looks like.
_AUTH_HEADER = re.compile(r"(?i)(\bauthorization:\s*(?:bearer|basic|token)\s+)[^\s,;\"']+")
MASK = "***"

log = logging.getLogger(__name__)


def redact(text: str, secrets: re.Pattern[str] | None = None) -> str:
    """``Bearer abc.def`` → ``Bearer ***``; ``access_token=abc`` → ``access_token=***``; any match of
    ``secrets`` (the configured values, ``secrets_pattern``) → ``***``."""
    if secrets is not None:
        text = secrets.sub(MASK, text)
    for shape in (_KEY_VALUE, _AUTH_HEADER, _BEARER_VALUE):
        text = shape.sub(lambda m: m.group(1) + MASK, text)
    return text


def secrets_pattern(values: tuple[str, ...]) -> re.Pattern[str] | None:
    """One pattern for the configured secret values, longest first (a secret holding another is masked whole)."""
    if not values:
        return None
    return re.compile("|".join(re.escape(v) for v in sorted(values, key=len, reverse=True)))


@contextmanager
def log_context(**fields: str | None) -> Iterator[None]:
    """Every record logged inside carries these fields (unless it sets its own)."""
    current = dict(_context.get() or {})
    current.update({k: v for k, v in fields.items() if v})
    token = _context.set(current)
    try:
        yield
    finally:
        _context.reset(token)


def turn_context(incoming: Incoming) -> Any:
    return log_context(session=incoming.session_key, event_id=incoming.event_id, platform=incoming.platform)


class ContextualEngine(Engine):
    """The engine, with each turn inside ``turn_context`` and one summary line per turn.

    The line is INFO for a turn that matters to someone reading the log later: one that leaves the user in a
    flow, made an order, repeated a redelivery or was slow. Chatter answered in ``idle`` (help, a look-up, a
    greeting) is DEBUG: the metrics count it, and at 100,000 staff a line per message is mostly noise.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def handle(
        self,
        incoming: Incoming,
        fetch_image: FetchImage | None = None,
        deliver: Deliver | None = None,
        fetch_voice: FetchVoice | None = None,
    ) -> TurnResult:
        with turn_context(incoming):
            started = time.perf_counter()
            result = self._engine.handle(incoming, fetch_image, deliver, fetch_voice)
            seconds = time.perf_counter() - started
            notable = result.state != IDLE or result.order_id or result.duplicate or seconds >= SLOW_TURN_SECONDS
            level = logging.INFO if notable else logging.DEBUG
            if log.isEnabledFor(level):
                log.log(
                    level,
                    "turn %s: %s in %.0f ms%s",
                    incoming.kind,
                    result.state,
                    seconds * 1000,
                    " (redelivery, first answer repeated)" if result.duplicate else "",
                )
            return result

    def reset(self, skey: str) -> Session | None:
        with log_context(session=skey):
            return self._engine.reset(skey)


def context_field(record: logging.LogRecord, name: str) -> Any:
    """The record's own ``extra`` value for ``name``, else the turn context's."""
    value = getattr(record, name, None)
    if value is None:
        value = (getattr(record, "wobot_context", None) or {}).get(name)
    return value


_factory_installed = False


def _install_record_factory() -> None:
    """Fill missing context fields of every new record from the current turn's context (once per process)."""
    global _factory_installed
    if _factory_installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        # Kept aside, not as record attributes: ``extra={"session": …}`` must still be allowed to set those.
        record.wobot_context = _context.get()
        return record

    logging.setLogRecordFactory(factory)
    _factory_installed = True


class JsonFormatter(logging.Formatter):
    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        super().__init__()
        self._secrets = secrets_pattern(secrets)

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact(record.getMessage(), self._secrets),
        }
        for name in _CONTEXT_FIELDS:
            value = context_field(record, name)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info), self._secrets)
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self._secrets = secrets_pattern(secrets)

    def format(self, record: logging.LogRecord) -> str:
        line = redact(super().format(record), self._secrets)
        context = " ".join(f"{n}={v}" for n in _CONTEXT_FIELDS if (v := context_field(record, n)))
        return f"{line} [{context}]" if context else line


# A command in a terminal (ops CLI, console chat) logs only errors unless ``--verbose``: its output is the answer.
COMMAND_LINE_LEVEL = logging.ERROR


def configure_logging(settings: Settings, *, command_line: bool = False) -> None:
    _install_record_factory()
    root = logging.getLogger()
    formatter_class = JsonFormatter if settings.log_format == "json" else TextFormatter
    formatter = formatter_class(settings.secret_values)
    handler = next((h for h in root.handlers if getattr(h, "_wobot", False)), None)
    if handler is None:
        handler = logging.StreamHandler()
        handler._wobot = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    handler.setFormatter(formatter)
    root.setLevel(COMMAND_LINE_LEVEL if command_line else settings.log_level.upper())
    # Client libraries log request URLs at DEBUG/INFO, and some URLs carry access tokens.
    for noisy in ("urllib3", "httpx", "openai", "botocore", "boto3", "transitions"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def verbose_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``-v/--verbose`` on a command: log at ``LOG_LEVEL`` to stderr, starting with the app's start-up summary."""

    def turn_on(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
        if not value:
            return
        app = current_app
        logging.getLogger().setLevel(app.extensions["wobot"].settings.log_level.upper())
        logging.getLogger("handlers.web.app").info("%s", app.extensions[STARTUP_SUMMARY])

    option = click.option(
        "-v", "--verbose", is_flag=True, expose_value=False, callback=turn_on, help="log to stderr as the web app does"
    )
    return option(fn)


STARTUP_SUMMARY = "wobot_startup"  # app.extensions key: the start-up line, for ``--verbose`` commands
