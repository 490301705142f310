"""The ops index: sorted sets of session keys scored by last activity, so on-call staff can find a user.

The one owner of these keys (``P`` = prefix, ``B`` = the session's shard, 0…SHARDS-1):

    P:idx:{sB}:all            every session of the shard
    P:idx:{sB}:state:S        its sessions in state S
    P:idx:{sB}:platform:N     its sessions of platform N
    P:turns:{sB}:HOUR         its turns per minute of that hour (a hash, kept 2 h), for "turns in the last hour"

Sharded so that no single key takes every turn's write: on a Redis Cluster the shards' hash tags
spread them over the nodes. ``SessionStore.save`` records each turn here with the ``RECORD`` script (its keys
and arguments from ``record``), in the save's own round trip; ``bot.ops`` reads through the methods below, which merge
the shards. Reads never use ``KEYS``: a walk is ``ZREVRANGEBYSCORE`` in chunks per shard merged newest
first, a search is ``ZSCAN`` with a server-side ``MATCH``, counts are ``ZCOUNT``s in one pipeline.
Entries are never trimmed on write; ``prune`` drops those idle long enough that their session must be gone.
"""

from __future__ import annotations

import heapq
import time
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import redis

from bot.adapters.redis.errors import guarded, guarded_walk
from bot.adapters.redis.scripts import RECORD, Call
from bot.dialogue.machine import STATES
from bot.session_admin import Entry, split_key

_FIRST_CHUNK = 64  # entries per shard a walk reads first: a page of 50 from one shard needs no second read
TURN_COUNTER_SECONDS = 7200  # an hour's turn counters outlive the hour that ops stats sum
SHARDS = 16  # fixed: changing it re-homes every entry (they come back within one session TTL)

# An (index member, score) pair: a session key and its last activity (unix seconds).


def shard_tag(n: int) -> str:
    """The hash tag of shard ``n``, e.g. ``{s7}``."""
    return "{s" + str(n) + "}"


ALL_SHARDS = tuple(shard_tag(n) for n in range(SHARDS))


def shard_of(skey: str) -> str:
    """The hash tag of the shard a session belongs to."""
    return shard_tag(zlib.crc32(skey.encode()) % SHARDS)


class SessionIndex:
    def __init__(self, client: redis.Redis, key: Callable[..., str]) -> None:
        self.redis = client
        self._key = key

    def key(self, shard: str, state: str | None = None, platform: str | None = None) -> str:
        if state:
            return self._key("idx", shard, "state", state)
        if platform:
            return self._key("idx", shard, "platform", platform)
        return self._key("idx", shard, "all")

    def keys(self, state: str | None = None, platform: str | None = None) -> list[str]:
        """One index, every shard of it."""
        return [self.key(shard, state, platform) for shard in ALL_SHARDS]

    # -- writes (in the store's round trips) ----------------------------------------------------------
    def record(self, skey: str, state: str, before: str | None, now: float) -> Call:
        """The ``RECORD`` script's call for the turn of ``skey`` at ``now`` in ``state``; ``before`` is the state it
        was read in (None: new). All on the session's shard: its indexes, and the turn counter. The store runs it in
        the save's round trip."""
        shard = shard_of(skey)
        minute = int(now // 60)
        # A new session may have an entry left from an expired one in any state; otherwise only
        # the state it left needs clearing.
        stale = tuple(
            self.key(shard, state=other) for other in (STATES if before is None else (before,)) if other != state
        )
        return RECORD.bind(
            all_index=self.key(shard),
            platform_index=self.key(shard, platform=split_key(skey)[0]),
            state_index=self.key(shard, state=state),
            counter=self._key("turns", shard, str(minute // 60)),
            member=skey,
            now=now,
            minute=minute,
            counter_ttl=TURN_COUNTER_SECONDS,
            rest_keys=stale,
        )

    def forget(self, pipe: Any, skey: str) -> None:
        shard = shard_of(skey)
        pipe.zrem(self.key(shard), skey)
        pipe.zrem(self.key(shard, platform=split_key(skey)[0]), skey)
        for state in STATES:
            pipe.zrem(self.key(shard, state=state), skey)

    # -- reads ------------------------------------------------------------------------------------------
    @guarded_walk
    def walk(self, indexes: list[str], after: Entry | None, keep: Callable[[str], bool] | None) -> Iterator[Entry]:
        """(member, score) from the shards ``indexes`` merged newest first, strictly after ``after``.

        The first chunk of every shard comes in one pipeline; later chunks are read as the merge needs
        them, each larger than the last, so a first page costs one round trip and a long walk few.
        """
        top: float | str = after[1] if after else "+inf"
        pipe = self.redis.pipeline(transaction=False)
        for index in indexes:
            pipe.zrevrangebyscore(index, top, "-inf", start=0, num=_FIRST_CHUNK, withscores=True)
        firsts = pipe.execute()
        shards = [self._walk_one(index, top, first, after, keep) for index, first in zip(indexes, firsts, strict=True)]
        # Each shard yields (score, member) descending, equal scores in reverse lexical order: so does the merge.
        yield from heapq.merge(*shards, key=lambda entry: (entry[1], entry[0]), reverse=True)

    def _walk_one(
        self,
        index: str,
        top: float | str,
        rows: list[tuple[bytes, float]],
        after: Entry | None,
        keep: Callable[[str], bool] | None,
    ) -> Iterator[Entry]:
        offset, chunk = 0, _FIRST_CHUNK
        while True:
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
            chunk = min(chunk * 4, 2000)
            rows = self.redis.zrevrangebyscore(  # type: ignore[assignment]
                index, top, "-inf", start=offset, num=chunk, withscores=True
            )

    @guarded
    def search(self, indexes: list[str], q: str, platform: str | None, cap: int) -> list[Entry]:
        """Up to ``cap`` entries of the shards ``indexes`` whose user id contains ``q`` (case-insensitive),
        newest first.

        With a ':' in ``q`` the whole key is matched (an engineer pasting a session key).
        """
        needle = q.lower()
        whole_key = ":" in q
        pattern = f"*{_glob_escape_ci(q)}*" if whole_key else f"*:*:*{_glob_escape_ci(q)}*"
        found: list[Entry] = []
        for index in indexes:
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
        return found[:cap]

    @guarded
    def counts(self, since: float, platforms: list[str]) -> tuple[int, dict[str, int], dict[str, int]]:
        """Sessions active since ``since``: in all, by state, by platform (one pipeline of ZCOUNTs)."""
        groups = [self.keys(), *(self.keys(state=s) for s in STATES), *(self.keys(platform=p) for p in platforms)]
        pipe = self.redis.pipeline(transaction=False)
        for group in groups:
            for key in group:
                pipe.zcount(key, since, "+inf")
        replies = iter(pipe.execute())
        counts = [sum(int(next(replies)) for _ in group) for group in groups]
        by_state = dict(zip(STATES, counts[1 : 1 + len(STATES)], strict=True))
        by_platform = dict(zip(platforms, counts[1 + len(STATES) :], strict=True))
        return counts[0], by_state, by_platform

    @guarded
    def turns_since(self, seconds: int) -> int:
        """Turns recorded in the last ``seconds`` (whole minutes), summed over the shards in one pipeline."""
        now_minute = int(time.time() // 60)
        first = now_minute - seconds // 60 + 1
        hours = range(first // 60, now_minute // 60 + 1)
        pipe = self.redis.pipeline(transaction=False)
        for shard in ALL_SHARDS:
            for hour in hours:
                pipe.hgetall(self._key("turns", shard, str(hour)))
        return sum(
            int(count) for minutes in pipe.execute() for minute, count in minutes.items() if int(minute) >= first
        )

    @guarded
    def prune(self, horizon: float, platforms: list[str]) -> None:
        """Drop entries idle since before ``horizon`` (O(log N + removed) per shard, one pipeline)."""
        groups = [self.keys(), *(self.keys(state=s) for s in STATES), *(self.keys(platform=p) for p in platforms)]
        pipe = self.redis.pipeline(transaction=False)
        for group in groups:
            for key in group:
                pipe.zremrangebyscore(key, "-inf", f"({horizon}")
        pipe.execute()


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
