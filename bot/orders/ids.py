"""The order id format: ``WO-YYYYMMDD-XXXXX``, made and read in one place."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime

# Ids are read aloud and typed on phones: no 0/O or 1/I to confuse.
ID_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
ID_RE = re.compile(rf"^WO-\d{{8}}-[{ID_ALPHABET}]{{5}}$")
# An id as people type one (another system's prefix, any case), and the ways a message names an order: that id,
# its last five characters, or its number in the list last shown. Group 1 of ``ORDER_REF`` is the reference.
ANY_ID = r"[A-Za-z]{2,5}-[A-Za-z0-9][A-Za-z0-9-]{0,63}"
ORDER_REF = rf"#?\s*({ANY_ID}|[{ID_ALPHABET}{ID_ALPHABET.lower()}]{{5}}|[1-9][0-9]?)"


def new_order_id(now: datetime) -> str:
    """``WO-YYYYMMDD-XXXXX``: dated so people can place it, random so it cannot be guessed."""
    suffix = "".join(secrets.choice(ID_ALPHABET) for _ in range(5))
    return f"WO-{now.astimezone(UTC):%Y%m%d}-{suffix}"


def normalize_order_id(order_id: str) -> str | None:
    """What a user typed (``wo-20261121-abcde ``) → the stored id, or None if it cannot be one."""
    candidate = order_id.strip().upper()
    return candidate if ID_RE.match(candidate) else None
