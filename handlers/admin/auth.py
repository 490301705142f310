"""Who may use the ops API and page: ``ADMIN_TOKEN`` parsed into named secrets, compared in constant time.

``ADMIN_TOKEN`` is one secret (its audit name is "admin"), or comma-separated ``name:secret``
pairs so the audit trail says who did what.
"""

from __future__ import annotations

import hmac
import re

DEFAULT_TOKEN_NAME = "admin"  # noqa: S105 - the audit name of a single unnamed token
_NAMED = re.compile(r"^([A-Za-z][\w.-]{0,31}):(.+)$")


def parse_tokens(raw: str) -> dict[str, str]:
    """``"s3cret"`` → {"admin": "s3cret"}; ``"alice:s1,bob:s2"`` → {"alice": "s1", "bob": "s2"}."""
    raw = raw.strip()
    if not raw:
        return {}
    entries = [e.strip() for e in raw.split(",") if e.strip()]
    named = [_NAMED.match(e) for e in entries]
    if len(entries) > 1 or all(named):
        tokens: dict[str, str] = {}
        for match in named:
            if match is None:
                raise ValueError("ADMIN_TOKEN with several tokens must be name:secret pairs separated by commas")
            tokens[match.group(1)] = match.group(2)
        return tokens
    return {DEFAULT_TOKEN_NAME: raw}


def token_name(tokens: dict[str, str], given: str) -> str | None:
    """The name of the token ``given`` is, or None; compares against every token, in constant time."""
    found = None
    given_bytes = given.encode()
    for name, secret in tokens.items():
        if hmac.compare_digest(given_bytes, secret.encode()) and found is None:
            found = name
    return found


def bearer(header: str) -> str:
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""
