"""The order id format: ``WO-YYYYMMDD-XXXXX``, made and read in one place."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime

# Ids are read aloud and typed on phones: no 0/O or 1/I to confuse.
ID_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
ID_RE = re.compile(rf"^WO-\d{{8}}-[{ID_ALPHABET}]{{5}}$")


def new_order_id(now: datetime) -> str:
    """``WO-YYYYMMDD-XXXXX``: dated so people can place it, random so it cannot be guessed."""
    suffix = "".join(secrets.choice(ID_ALPHABET) for _ in range(5))
    return f"WO-{now.astimezone(UTC):%Y%m%d}-{suffix}"


def normalize_order_id(order_id: str) -> str | None:
    """What a user typed (``wo-20261121-abcde ``) → the stored id, or None if it cannot be one."""
    candidate = order_id.strip().upper()
    return candidate if ID_RE.match(candidate) else None
