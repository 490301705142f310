"""This process's consumer threads of the turn stream (``bot.adapters.redis.turn_stream``), and the heartbeat
that keeps the entries they work on theirs."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable

import redis

from bot.adapters.redis.turn_stream import TurnQueue

log = logging.getLogger(__name__)


class TurnWorkers:
    """Consumer threads of one process, and the heartbeat that keeps their entries theirs."""

    def __init__(self, queue: TurnQueue, threads: int, run: Callable[[str, bytes], None]) -> None:
        self.queue, self.run = queue, run
        self.consumer = f"{socket.gethostname()}-{os.getpid()}-{id(self):x}"
        self._stop = threading.Event()
        self._in_flight: set[str] = set()
        self._guard = threading.Lock()
        self._next_reclaim = 0.0
        self._threads = [threading.Thread(target=self._consume, name=f"turn-{n}", daemon=True) for n in range(threads)]
        self._threads.append(threading.Thread(target=self._heartbeat, name="turn-heartbeat", daemon=True))
        for thread in self._threads:
            thread.start()

    def _should_reclaim(self) -> bool:
        """At most one XAUTOCLAIM per quarter visibility per process: abandoned work is rare."""
        with self._guard:
            now = time.monotonic()
            if now < self._next_reclaim:
                return False
            self._next_reclaim = now + self.queue.visibility_ms / 4000
            return True

    def _consume(self) -> None:
        while not self._stop.is_set():
            try:
                taken = self.queue.take(self.consumer, reclaim=self._should_reclaim())
            except Exception as exc:  # a reader thread must outlive any Redis trouble
                if self._stop.is_set():
                    return  # stopped while blocked reading (the client may be closed under it)
                if isinstance(exc, redis.ResponseError) and "NOGROUP" in str(exc):
                    self.queue.forget_group()  # the stream was deleted (FLUSHDB, a wiped prefix): make it again
                    continue
                log.warning("turn queue unreachable (%s: %.200s); retrying", type(exc).__name__, exc)
                self._stop.wait(1)
                continue
            if taken is None:
                continue
            entry_id, platform, job = taken
            with self._guard:  # checked with the in-flight set, so ``stop`` either waits for it or it is left
                if self._stop.is_set():  # read while stopping: left pending, another process takes it over
                    return
                self._in_flight.add(entry_id)
            try:
                self.run(platform, job)
            finally:
                with self._guard:
                    self._in_flight.discard(entry_id)
            try:
                self.queue.done(entry_id)
            except Exception as exc:  # it will be taken over again and answered from the kept result
                log.warning("turn %s not marked done (%s)", entry_id, type(exc).__name__)

    def _heartbeat(self) -> None:
        period = max(self.queue.visibility_ms / 4000, 0.05)
        while not self._stop.wait(period):
            with self._guard:
                ids = sorted(self._in_flight)
            try:
                self.queue.touch(self.consumer, ids)
            except Exception as exc:
                log.warning("turn heartbeat failed (%s)", type(exc).__name__)

    def stop(self, timeout: float = 25.0) -> None:
        """Take no new turns; wait up to ``timeout`` for the running ones. Unfinished ones stay pending
        in the stream and another process takes them over (graceful stop on SIGTERM, and tests)."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        # Idle threads are not waited for: they are blocked reading (up to a second) and take nothing after.
        while time.monotonic() < deadline:
            with self._guard:
                if not self._in_flight:
                    return
            time.sleep(0.01)
