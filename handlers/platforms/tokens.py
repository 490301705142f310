"""Platform access tokens cached in Redis, shared by every web and worker process.

WeCom and Feishu hand out tokens that live about two hours, rate-limit the token
endpoint, and may invalidate a token early. So: one cached token per (platform, app)
under ``{prefix}:token:{platform}:{app}``, kept until ``expiry − margin``; an API
answer meaning "token expired" drops it (only if it is still the one that failed)
and the call is made once more with a fresh one (``call`` for API answers, ``download``
for a download refused with an error body).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

import redis

from bot.adapters.redis.store import SessionStore
from handlers.platforms.http_client import DownloadError

log = logging.getLogger(__name__)

MARGIN_SECONDS = 300
MIN_CACHE_SECONDS = 30


class TokenError(Exception):
    """The platform refused to issue a token (wrong secret, IP not allowed, …) or could not be reached."""


R = TypeVar("R")
Fetch = Callable[[], tuple[str, int]]  # -> (token, lifetime in seconds)


class TokenSource:
    def __init__(
        self, store: SessionStore, platform: str, app_id: str, fetch: Fetch, margin_seconds: int = MARGIN_SECONDS
    ) -> None:
        self._redis = store.redis
        self.key = store.key("token", platform, app_id)
        self._fetch = fetch
        self._margin = margin_seconds
        self.platform = platform

    def get(self) -> str:
        """The cached token, or a new one from the platform (raises TokenError)."""
        try:
            cached = self._redis.get(self.key)
        except redis.RedisError as exc:
            # A token is worth more than the cache: fetch directly and carry on.
            log.warning("token cache unreachable (%s); fetching directly", type(exc).__name__)
            cached = None
        if cached:
            return cached.decode() if isinstance(cached, bytes) else str(cached)
        return self.refresh()

    def refresh(self) -> str:
        token, lifetime = self._fetch()
        if not token:
            raise TokenError(f"{self.platform}: empty access token")
        ttl = lifetime - self._margin if lifetime > 2 * self._margin else lifetime // 2
        try:
            self._redis.set(self.key, token, ex=max(MIN_CACHE_SECONDS, int(ttl)))
        except redis.RedisError as exc:
            log.warning("token cache unreachable (%s); token not cached", type(exc).__name__)
        return token

    def call(self, send: Callable[[str], R], expired: Callable[[R], bool]) -> R:
        """``send(token)``; when its answer says the token expired, once more with a fresh token."""
        token = self.get()
        answer = send(token)
        if expired(answer):
            self.invalidate(token)
            answer = send(self.refresh())
        return answer

    def download(
        self, fetch: Callable[[str], bytes], code_field: str, expired_codes: frozenset[int], what: str
    ) -> bytes:
        """``fetch(token)``; when the platform's error code (``code_field`` of its JSON answer) says the
        token expired, once more with a fresh token. A failure the platform explained names its code
        (``"<what> <code_field> <code>"``), never the token."""
        token = self.get()
        try:
            try:
                return fetch(token)
            except DownloadError as exc:
                if exc.error_code(code_field) not in expired_codes:
                    raise
            self.invalidate(token)
            return fetch(self.refresh())
        except DownloadError as exc:
            code = exc.error_code(code_field)
            if code is not None:
                exc.detail = f"{what} {code_field} {code}"
            raise

    def invalidate(self, stale: str) -> None:
        """Forget ``stale`` unless another process already replaced it."""
        try:
            cached = self._redis.get(self.key)
            if cached is not None and (cached.decode() if isinstance(cached, bytes) else str(cached)) == stale:
                self._redis.delete(self.key)
        except redis.RedisError:
            pass
