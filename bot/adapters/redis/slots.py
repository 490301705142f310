"""Short key names in a given user's Cluster slot: a three-letter hash tag that hashes to that slot, and a digest.

A key for every platform message (a turn's stored result, then its "answered" marker) must stay small, and the
user's own hash tag ``{platform:tenant:user}`` is already past the length at which Redis moves a key up a size class.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import itertools
import string

from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot


@functools.lru_cache(maxsize=256)  # a turn names its result three times (BEGIN, the save, the marker)
def short_name(user_key: str, skey: str, event_id: str) -> str:
    """``{tag}:digest`` for ``SessionStore.result_key``: ``user_key`` is any key of the user's, for its slot."""
    digest = hashlib.blake2b(f"{len(skey)}:{skey}{event_id}".encode(), digest_size=16).digest()
    tag = _slot_tags()[key_slot(user_key.encode())]
    return "{" + tag + "}:" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@functools.cache
def _slot_tags() -> tuple[str, ...]:
    """For each Redis Cluster hash slot, the first three-letter name (URL-safe base64 letters) that hashes to it:
    a key tagged ``{name}`` lives in that slot. Built once a process, on its first turn with a result."""
    alphabet = string.ascii_letters + string.digits + "-_"
    tags: dict[int, str] = {}
    for letters in itertools.product(alphabet, repeat=3):
        name = "".join(letters)
        tags.setdefault(key_slot(name.encode()), name)
        if len(tags) == REDIS_CLUSTER_HASH_SLOTS:
            break
    return tuple(tags[slot] for slot in range(REDIS_CLUSTER_HASH_SLOTS))
