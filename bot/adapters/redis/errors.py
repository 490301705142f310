"""Redis connection trouble as the domain's ``StoreUnavailable`` (the edge answers 503), for calls and walks."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import ParamSpec, TypeVar

import redis

from bot.ports import StoreUnavailable

T = TypeVar("T")
P = ParamSpec("P")


def unavailable(exc: redis.RedisError) -> StoreUnavailable:
    return StoreUnavailable(f"session store unreachable: {type(exc).__name__}")


def guarded(fn: Callable[P, T]) -> Callable[P, T]:
    """Turn any Redis connection problem into StoreUnavailable, which the edge maps to 503."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return fn(*args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise unavailable(exc) from exc

    return wrapper


def guarded_walk(fn: Callable[P, Iterator[T]]) -> Callable[P, Iterator[T]]:
    """``guarded`` for a generator: its round trips happen while it is walked, not when it is called."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Iterator[T]:
        try:
            yield from fn(*args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise unavailable(exc) from exc

    return wrapper
