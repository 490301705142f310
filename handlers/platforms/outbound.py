"""Sending replies reliably enough: retry transient failures with backoff, then give up and log.

A send never raises into the turn: the session has already moved on, and a reply
that cannot be delivered must not take that back. Each platform's client turns one
API answer into an ``Attempt``: done, worth retrying (optionally after the
platform's ``Retry-After``), or a permanent failure.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Attempt:
    ok: bool
    retry: bool = False
    retry_after: float | None = None
    detail: str = ""


DONE = Attempt(ok=True)


def retry(detail: str, after: float | None = None) -> Attempt:
    return Attempt(ok=False, retry=True, retry_after=after, detail=detail)


def fail(detail: str) -> Attempt:
    return Attempt(ok=False, retry=False, detail=detail)


class Outage:
    """Is a platform's API down? Replies are sent from the turn consumer threads, which every platform shares:
    while one platform's API is down, retrying each reply for 3.5 s would hold the threads and the other
    platforms' turns would wait behind. So after ``after`` replies in a row were not delivered for a reason
    worth retrying, the platform counts as down for ``seconds``: a reply gets one attempt and no waits. The
    first reply that goes through, or the end of the period, ends it. One per platform and process."""

    def __init__(self, platform: str, after: int = 5, seconds: float = 30.0) -> None:
        self.platform, self.after, self.seconds = platform, after, seconds
        self._failed, self._until = 0, 0.0
        self._guard = threading.Lock()

    @property
    def down(self) -> bool:
        return time.monotonic() < self._until

    def delivered(self) -> None:
        with self._guard:
            was_down, self._failed, self._until = self._until > 0.0, 0, 0.0
        if was_down:
            log.info("%s API answers again: replies are retried as usual", self.platform)

    def undelivered(self) -> None:
        with self._guard:
            self._failed += 1
            opens = self._failed >= self.after and not self.down
            if opens:
                self._until = time.monotonic() + self.seconds
        if opens:
            log.warning(
                "%s API is down (%d replies in a row not delivered): one attempt per reply, no retries, for %.0fs",
                self.platform,
                self._failed,
                self.seconds,
            )


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` tries in all; waits ``base``, 2×``base``, … or the platform's Retry-After, capped. With an
    ``outage`` (a turn's replies), one attempt only while the platform is down."""

    attempts: int = 4
    base_seconds: float = 0.5
    cap_seconds: float = 10.0
    sleep: Callable[[float], None] = time.sleep
    outage: Outage | None = field(default=None, compare=False)

    def wait(self, attempt_number: int, retry_after: float | None) -> float:
        wanted = retry_after if retry_after is not None else self.base_seconds * 2 ** (attempt_number - 1)
        return min(max(wanted, 0.0), self.cap_seconds)


class SendFailed(Exception):
    """A message outside any turn (a duty card) was not sent: worth trying later (``retry``) or not."""

    def __init__(self, attempt: Attempt) -> None:
        super().__init__(attempt.detail)
        self.attempt = attempt


def sent(attempt: Attempt) -> None:
    """Raise SendFailed unless the attempt went through."""
    if not attempt.ok:
        raise SendFailed(attempt)


def deliver(
    try_once: Callable[[], Attempt], *, policy: RetryPolicy, platform: str, session: str, what: str = "reply"
) -> bool:
    """Run ``try_once`` until it succeeds, fails for good, or runs out of attempts. True if delivered."""
    last = fail("not tried")
    outage = policy.outage
    attempts = 1 if outage is not None and outage.down else policy.attempts
    for number in range(1, attempts + 1):
        try:
            last = try_once()
        except Exception as exc:  # a bug or an unexpected library error: log it, never raise into the turn
            log.exception("%s %s send crashed", platform, what, extra={"session": session, "platform": platform})
            last = fail(f"{type(exc).__name__}")
        if last.ok:
            if outage is not None:
                outage.delivered()
            return True
        if not last.retry or number == attempts:
            break
        pause = policy.wait(number, last.retry_after)
        log.info(
            "%s %s send failed (%s); retry %d in %.1fs",
            platform,
            what,
            last.detail,
            number,
            pause,
            extra={"session": session, "platform": platform},
        )
        policy.sleep(pause)
    log.error("%s %s not delivered: %s", platform, what, last.detail, extra={"session": session, "platform": platform})
    if outage is not None and last.retry:  # a refusal (no such channel…) says the API is up
        outage.undelivered()
    return False


def split_utf8(text: str, max_bytes: int) -> list[str]:
    """Cut ``text`` into pieces of at most ``max_bytes`` UTF-8 bytes, at line breaks when possible."""
    if len(text.encode()) <= max_bytes:
        return [text]
    pieces: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        while len(line.encode()) > max_bytes:  # a single overlong line: cut by characters
            head = line
            while len(head.encode()) > max_bytes:
                head = head[: max(1, len(head) * max_bytes // len(head.encode()) - 1)]
            if current:
                pieces.append(current)
                current = ""
            pieces.append(head)
            line = line[len(head) :]
        if len((current + line).encode()) > max_bytes:
            pieces.append(current)
            current = line
        else:
            current += line
    if current:
        pieces.append(current)
    return [p for p in (piece.strip("\n") for piece in pieces) if p]
