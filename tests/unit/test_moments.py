"""The from/to of the orders CSV and the reports: the API takes what its OpenAPI document states, nothing else."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.moments import OPTIONAL_MOMENT, is_moment
from bot.ops import Invalid
from handlers.web.admin.export import bound

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize("raw", ["2026-12-01", "2026-12-01T08:30", "2026-12-01 08:30:15", "2026-12-01T08:30+08:00"])
def test_dates_and_times_are_moments_in_the_document_too(raw: str) -> None:
    assert is_moment(raw) and re.fullmatch(OPTIONAL_MOMENT, raw)


@pytest.mark.parametrize("raw", ["20261201", "2026-12-01T10", " 2026-12-01", "2026-12-01\n", "yesterday"])
def test_other_iso_forms_are_refused_as_the_document_refuses_them(raw: str) -> None:
    assert not is_moment(raw) and not re.fullmatch(OPTIONAL_MOMENT, raw)
    with pytest.raises(Invalid, match="from must be an ISO 8601 date or time"):
        bound(raw, SHANGHAI, end=False)


def test_an_empty_bound_is_no_bound_and_a_date_is_its_local_midnight() -> None:
    assert re.fullmatch(OPTIONAL_MOMENT, "") and bound("", SHANGHAI, end=False) is None
    assert bound("2026-12-01", SHANGHAI, end=True) == datetime(2026, 12, 2, tzinfo=SHANGHAI)
