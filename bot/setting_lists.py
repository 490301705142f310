"""Parsers of the settings that hold lists: admin tokens and Sentinel addresses. ``bot.config`` reads the
variables and turns a ``ValueError`` from here into a ``SettingsError`` naming the variable."""

from __future__ import annotations

import re

ADMIN_DEFAULT_NAME = "admin"  # the audit name of a single unnamed ADMIN_TOKEN
_ADMIN_NAMED = re.compile(r"^([A-Za-z][\w.-]{0,31}):(.*)$")


def parse_admin_tokens(raw: str) -> dict[str, str]:
    """``"s3cret"`` → {"admin": "s3cret"}; ``"alice:s1,bob:s2"`` → {"alice": "s1", "bob": "s2"}.

    A ``ValueError`` says what is wrong without repeating any secret.
    """
    raw = raw.strip()
    if not raw:
        return {}
    entries = [e.strip() for e in raw.split(",")]
    if "" in entries:
        raise ValueError("has an empty entry (two commas in a row, or a comma at an end)")
    named = [_ADMIN_NAMED.match(e) for e in entries]
    if len(entries) == 1 and named[0] is None:
        return {ADMIN_DEFAULT_NAME: raw}
    tokens: dict[str, str] = {}
    for number, match in enumerate(named, 1):
        if match is None:
            raise ValueError(
                f"entry {number} is not name:secret (several tokens must all be name:secret pairs, "
                "the name a letter then up to 31 letters, digits, '.', '_' or '-')"
            )
        name, secret = match.group(1), match.group(2).strip()
        if name in tokens:
            raise ValueError(f"names {name!r} twice")
        if not secret:
            raise ValueError(f"gives {name!r} an empty secret")
        tokens[name] = secret
    return tokens


def parse_sentinels(text: str) -> list[tuple[str, int]]:
    """``host:port,host:port`` → addresses; a malformed entry raises ValueError naming it."""
    addresses = []
    for entry in (part.strip() for part in text.split(",")):
        host, _, port = entry.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"entry {entry!r} is not host:port")
        addresses.append((host.strip("[]"), int(port)))
    return addresses
