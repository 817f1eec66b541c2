"""Period boundaries of transactional metrics (pure)."""

import calendar

import pytest

from tidings.errors import ApiError
from tidings.reporting.transactional_metrics import parse_window, period_starts

T = calendar.timegm((2024, 3, 15, 13, 45, 0))  # a Friday


@pytest.mark.parametrize(
    ("period", "steps", "first", "last"),
    [
        ("hours", 2, (2024, 3, 15, 12, 0, 0), (2024, 3, 15, 13, 0, 0)),
        ("days", 3, (2024, 3, 13, 0, 0, 0), (2024, 3, 15, 0, 0, 0)),
        ("weeks", 2, (2024, 3, 3, 0, 0, 0), (2024, 3, 10, 0, 0, 0)),
        ("months", 4, (2023, 12, 1, 0, 0, 0), (2024, 3, 1, 0, 0, 0)),
    ],
)
def test_periods_end_with_the_current_one(period, steps, first, last):
    starts = period_starts(period, steps, T)
    assert len(starts) == steps
    assert (starts[0], starts[-1]) == (calendar.timegm(first), calendar.timegm(last))
    assert starts == sorted(starts)


@pytest.mark.parametrize(
    ("query", "window"),
    [
        ({}, ("days", 45)),
        ({"period": "months"}, ("months", 12)),
        ({"period": "hours", "steps": "1"}, ("hours", 2)),
        ({"period": "weeks", "steps": "0"}, ("weeks", 12)),
        ({"period": "months", "steps": "500"}, ("months", 121)),
    ],
)
def test_window(query, window):
    assert parse_window(query) == window


@pytest.mark.parametrize("query", [{"period": "years"}, {"steps": "-1"}, {"steps": "x"}])
def test_bad_window(query):
    with pytest.raises(ApiError):
        parse_window(query)
