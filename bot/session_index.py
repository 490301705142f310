"""The ops index: sorted sets of session keys scored by last activity, so on-call staff can find a user.

The one owner of these keys (``P`` = prefix):

    P:idx:all            every session
    P:idx:state:S        sessions in state S
    P:idx:platform:N     sessions of platform N

``SessionStore.save`` records each turn here in its own pipeline; ``bot.ops`` reads through the
methods below. Reads never use ``KEYS``: a walk is ``ZREVRANGEBYSCORE`` in chunks, a search
is ``ZSCAN`` with a server-side ``MATCH``, counts are ``ZCOUNT``s. Entries are never trimmed on
write; ``prune`` drops those idle long enough that their session must be gone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import redis

from bot.machine import STATES

# An (index member, score) pair: a session key and its last activity (unix seconds).
Entry = tuple[str, float]


def split_key(skey: str) -> tuple[str, str, str]:
    """``platform:tenant:user`` → its parts (the user part may itself hold ':')."""
    parts = skey.split(":", 2)
    while len(parts) < 3:
        parts.append("")
    return parts[0], parts[1], parts[2]


class SessionIndex:
    def __init__(self, client: redis.Redis, key: Callable[..., str]) -> None:
        self.redis = client
        self._key = key

    def key(self, state: str | None = None, platform: str | None = None) -> str:
        if state:
            return self._key("idx", "state", state)
        if platform:
            return self._key("idx", "platform", platform)
        return self._key("idx", "all")

    # -- writes (inside the store's pipelines) ------------------------------------------------------
    def record(self, pipe: Any, skey: str, state: str, before: str | None, now: float) -> None:
        """Put ``skey`` at ``now`` under its state; ``before`` is the state it was read in (None: new)."""
        pipe.zadd(self.key(), {skey: now})
        pipe.zadd(self.key(platform=split_key(skey)[0]), {skey: now})
        pipe.zadd(self.key(state=state), {skey: now})
        # A new session may have an entry left from an expired one in any state; otherwise only
        # the state it left needs clearing.
        for other in STATES if before is None else (before,):
            if other != state:
                pipe.zrem(self.key(state=other), skey)

    def forget(self, pipe: Any, skey: str) -> None:
        pipe.zrem(self.key(), skey)
        pipe.zrem(self.key(platform=split_key(skey)[0]), skey)
        for state in STATES:
            pipe.zrem(self.key(state=state), skey)

    # -- reads ------------------------------------------------------------------------------------------
    def walk(self, index: str, after: Entry | None, keep: Callable[[str], bool] | None) -> Iterator[Entry]:
        """(member, score) from ``index`` newest first, strictly after ``after`` in that order."""
        top: float | str = after[1] if after else "+inf"
        offset, chunk = 0, 500
        while True:
            rows: list[tuple[bytes, float]] = self.redis.zrevrangebyscore(  # type: ignore[assignment]
                index, top, "-inf", start=offset, num=chunk, withscores=True
            )
            if not rows:
                return
            for raw, score in rows:
                member = raw.decode()
                # Equal scores come in reverse lexical order: skip those at or before the cursor's member.
                if after and score == after[1] and member >= after[0]:
                    continue
                if keep is None or keep(member):
                    yield member, score
            if len(rows) < chunk:
                return
            offset += chunk

    def search(self, index: str, q: str, platform: str | None, cap: int) -> list[Entry]:
        """Up to ``cap`` entries whose user id contains ``q`` (case-insensitive), newest first.

        With a ':' in ``q`` the whole key is matched (an engineer pasting a session key).
        """
        needle = q.lower()
        whole_key = ":" in q
        pattern = f"*{_glob_escape_ci(q)}*" if whole_key else f"*:*:*{_glob_escape_ci(q)}*"
        found: list[Entry] = []
        for raw, score in self.redis.zscan_iter(index, match=pattern, count=2000):
            member = raw.decode()
            haystack = member if whole_key else split_key(member)[2]
            if needle not in haystack.lower():
                continue
            if platform and split_key(member)[0] != platform:
                continue
            found.append((member, score))
            if len(found) >= cap:
                break
        # newest first; equal scores in reverse lexical order, as ZREVRANGEBYSCORE gives them
        found.sort(key=lambda entry: (entry[1], entry[0]), reverse=True)
        return found

    def counts(self, since: float, platforms: list[str]) -> tuple[int, dict[str, int], dict[str, int]]:
        """Sessions active since ``since``: in all, by state, by platform (one pipeline of ZCOUNTs)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.zcount(self.key(), since, "+inf")
        for state in STATES:
            pipe.zcount(self.key(state=state), since, "+inf")
        for platform in platforms:
            pipe.zcount(self.key(platform=platform), since, "+inf")
        counts = [int(n) for n in pipe.execute()]
        by_state = dict(zip(STATES, counts[1 : 1 + len(STATES)], strict=True))
        by_platform = dict(zip(platforms, counts[1 + len(STATES) :], strict=True))
        return counts[0], by_state, by_platform

    def prune(self, horizon: float, platforms: list[str]) -> None:
        """Drop entries idle since before ``horizon`` (O(log N + removed))."""
        keys = [self.key(), *(self.key(state=s) for s in STATES), *(self.key(platform=p) for p in platforms)]
        pipe = self.redis.pipeline(transaction=False)
        for key in keys:
            pipe.zremrangebyscore(key, "-inf", f"({horizon}")
        pipe.execute()


def after(entries: list[Entry], position: Entry | None) -> list[Entry]:
    """The entries of a newest-first list that come strictly after ``position``."""
    if position is None:
        return entries
    member, score = position
    return [(m, s) for m, s in entries if s < score or (s == score and m < member)]


def _glob_escape_ci(text: str) -> str:
    """A Redis MATCH fragment matching ``text`` literally and case-insensitively."""
    out = []
    for ch in text:
        if ch.isalpha() and ch.lower() != ch.upper():
            out.append(f"[{ch.lower()}{ch.upper()}]")
        elif ch in "*?[]\\^-":
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)
