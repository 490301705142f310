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
    """Is a platform's API down? A circuit breaker, one per platform and process.

    Replies are sent from the turn consumer threads, which every platform shares: while one platform's API is
    down, retrying each reply for 3.5 s would hold the threads and the other platforms' turns would wait
    behind, and even one attempt each (a connect that fails, its log line) costs every turn CPU the others
    need. So after ``after`` attempts in a row failed for a reason worth retrying, the platform counts as
    down: replies waiting to retry give up, and new ones are not tried, except one every ``probe_every``
    seconds (the probe, one attempt, no waits). The first probe the API answers ends it: delivered, or
    refused for a reason of its own (no such user…), which only an API that is up can say. One WARNING line
    when it opens, another every ``report_every`` seconds while it lasts, and an INFO line with the count of
    replies not sent when the API answers again: not one ERROR line per reply."""

    def __init__(
        self,
        platform: str,
        after: int = 5,
        probe_every: float = 2.0,
        report_every: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.platform, self.after, self.probe_every, self.report_every = platform, after, probe_every, report_every
        self._clock = clock
        self._failed, self._down, self._next_probe, self._reported, self.not_sent = 0, False, 0.0, 0.0, 0
        self._guard = threading.Lock()

    @property
    def down(self) -> bool:
        return self._down

    def admits(self) -> bool:
        """May a reply be tried now? Always while the API is up; while it is down, only as the probe."""
        if not self._down:
            return True
        with self._guard:
            now = self._clock()
            if now >= self._next_probe:
                self._next_probe = now + self.probe_every
                return True
            self.not_sent += 1
            return False

    def answered(self) -> None:
        """The API answered: a reply went through, or was refused (no such user…), which it does only when up."""
        if not self._failed and not self._down:  # the usual case, every reply: nothing to reset, no lock
            return
        with self._guard:
            was_down, not_sent = self._down, self.not_sent
            self._failed, self._down, self.not_sent = 0, False, 0
        if was_down:
            log.info("%s API answers again: %d replies were not sent while it was down", self.platform, not_sent)

    def undelivered(self) -> None:
        with self._guard:
            now = self._clock()
            self._failed += 1
            opens = not self._down and self._failed >= self.after
            if opens:
                self._down, self._next_probe, self._reported = True, now + self.probe_every, now
            lasts = self._down and not opens and now - self._reported >= self.report_every
            if lasts:
                self._reported = now
            failed, not_sent = self._failed, self.not_sent
        if opens:
            log.warning(
                "%s API is down (%d attempts in a row failed): replies are not sent, one tried every %.0fs",
                self.platform,
                failed,
                self.probe_every,
            )
        elif lasts:
            log.warning("%s API is still down: %d replies not sent so far", self.platform, not_sent)


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` tries in all; waits ``base``, 2×``base``, … or the platform's Retry-After, capped. With an
    ``outage`` (a turn's replies), none while the platform is down but the probe's one attempt."""

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
    if outage is not None and not outage.admits():
        return False  # the platform is down: counted, and said in the outage's own lines
    probe = outage is not None and outage.down
    attempts = 1 if probe else policy.attempts
    crashed = False
    for number in range(1, attempts + 1):
        try:
            last = try_once()
        except Exception as exc:  # a bug or an unexpected library error: log it, never raise into the turn
            log.exception("%s %s send crashed", platform, what, extra={"session": session, "platform": platform})
            last, crashed = fail(f"{type(exc).__name__}"), True
        if outage is not None and last.retry:
            outage.undelivered()
        elif outage is not None and not crashed:  # delivered, or refused (no such channel…): the API is up
            outage.answered()
        if last.ok:
            return True
        # A reply that waits to retry stops once the platform counts as down: at the start of an outage every
        # consumer thread is in such a wait, and would hold its turn for all of them (3.5 s).
        if not last.retry or number == attempts or (outage is not None and outage.down):
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
    quiet = outage is not None and outage.down and last.retry  # the outage's WARNING lines already say it
    log.log(
        logging.INFO if quiet else logging.ERROR,
        "%s %s not delivered: %s",
        platform,
        what,
        last.detail,
        extra={"session": session, "platform": platform},
    )
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
