"""Who may use the ops API and page: a given token compared in constant time with ``ADMIN_TOKEN``'s secrets.

``Settings.admin_tokens`` parses the setting (one secret named "admin", or ``name:secret`` pairs
so the audit trail says who did what); a malformed one stops the app at start-up.
"""

from __future__ import annotations

import hmac


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
