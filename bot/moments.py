"""The ``from``/``to`` an ops call names (orders CSV, reports): an ISO 8601 date, or a date and time with an optional
zone — the one shape the API takes and its OpenAPI document states, so the two cannot disagree (``fromisoformat``
alone also takes "20261201" and "2026-12-01T10", which the document does not)."""

from __future__ import annotations

import re

MOMENT_PATTERN = r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2})?(Z|[+-]\d{2}:\d{2})?)?"
OPTIONAL_MOMENT = f"^({MOMENT_PATTERN})?$"  # the document's pattern: empty is the same as not given
_MOMENT = re.compile(MOMENT_PATTERN)


def is_moment(raw: str) -> bool:
    return _MOMENT.fullmatch(raw) is not None
