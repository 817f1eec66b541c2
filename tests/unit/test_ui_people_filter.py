"""The People page's filter form made into a condition (`ui.people.parse_filter`)."""

from __future__ import annotations

import pytest

from tidings.errors import ApiError
from tidings.segments.conditions import parse
from tidings.ui.people import parse_filter

PLAN = {"field": "plan", "operator": "eq", "value": "pro"}


@pytest.mark.parametrize(
    ("form", "condition"),
    [
        (("", "", "", ""), None),
        (("  ", "gt", "5", ""), None),  # no attribute: the operator and value are ignored
        (("plan", "eq", "pro", ""), {"attribute": PLAN}),
        ((" plan ", "", "pro", ""), {"attribute": PLAN}),  # no operator: "is"
        (("plan", "exists", "ignored", ""), {"attribute": {"field": "plan", "operator": "exists"}}),
        (
            ("seats", "gte", "20", ""),
            {"attribute": {"field": "seats", "operator": "gte", "value": 20}},
        ),
        (
            ("at", "lt", "2024-01-01", ""),
            {"attribute": {"field": "at", "operator": "lt", "value": "2024-01-01"}},
        ),
        (
            ("code", "eq", "007", ""),
            {"attribute": {"field": "code", "operator": "eq", "value": "007"}},
        ),
        (("", "", "", "12"), {"segment": {"id": 12}}),
        (("plan", "eq", "pro", "12"), {"and": [{"attribute": PLAN}, {"segment": {"id": 12}}]}),
    ],
)
def test_the_form_makes_a_condition_of_the_language(form, condition):
    expected = None if condition is None else parse(condition)
    assert parse_filter(*form) == expected


@pytest.mark.parametrize(
    ("form", "says"),
    [
        (("seats", "gt", "lots", ""), "must be a date"),
        (("plan", "bogus", "x", ""), "operator must be one of"),
        (("", "", "", "12; drop"), "choose a segment"),
    ],
)
def test_a_filter_the_language_refuses_is_a_400_saying_why(form, says):
    with pytest.raises(ApiError) as raised:
        parse_filter(*form)
    assert raised.value.status == 400 and says in raised.value.message
