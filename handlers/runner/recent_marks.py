"""The platform events this process accepted or found marked lately, so that their redeliveries are dropped
without Redis.

A platform redelivers an event when its ack was slow, so redeliveries come in bursts exactly when the
service is loaded, and each one cost a Redis round trip (``SET NX``) only to learn it was seen. Remembered:

- events this process marked *and* handed on. A mark is given back only by the process that made it, and
  only when handing the event on failed (``handlers.web.webhooks._release``, or the ``ACCEPT`` script of
  ``turn_queue`` when
  the queue is full), so such a mark stays in Redis for the whole dedupe TTL;
- events found marked by another process, where marks are made in the same script as the hand-off
  (``Runtime.marks_are_final``): no one can see such a mark before its event is queued, and no one gives
  it back. Elsewhere another process's mark may still be given back, so it is asked about every time.

A redelivery dropped here is one Redis would have dropped too (or, past the mark's TTL, an event that was
processed). Bounded: past ``capacity`` the oldest are forgotten first.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

CAPACITY = 20_000  # some 3 MB per process; a few minutes of events of a busy process


class RecentMarks:
    def __init__(self, ttl_seconds: float, capacity: int = CAPACITY) -> None:
        self._ttl, self._capacity = ttl_seconds, capacity
        self._until: OrderedDict[tuple[str, str], float] = OrderedDict()  # (platform, id) -> monotonic expiry
        self._guard = threading.Lock()

    def holds(self, platform: str, idents: tuple[str, ...]) -> bool:
        """True if this process marked every one of ``idents`` (at least one) and the marks still last."""
        if not idents:
            return False
        now = time.monotonic()
        with self._guard:
            return all(self._until.get((platform, ident), 0.0) > now for ident in idents)

    def remember(self, platform: str, idents: tuple[str, ...], marked_at: float) -> None:
        """``marked_at``: ``time.monotonic()`` just before the marks were made or found, so ours end no later
        than a mark this process made."""
        until = marked_at + self._ttl
        with self._guard:
            for ident in idents:
                self._until[(platform, ident)] = until
                self._until.move_to_end((platform, ident))
            while len(self._until) > self._capacity:
                self._until.popitem(last=False)
