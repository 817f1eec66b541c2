"""The People page's filter form made into a condition and a segment (`ui.people`)."""

from __future__ import annotations

import pytest

from tidings.errors import ApiError
from tidings.segments.conditions import parse
from tidings.ui.people import parse_filter, parse_segment


def attribute(field, operator, *value):
    return {
        "attribute": {
            "field": field,
            "operator": operator,
            **({"value": value[0]} if value else {}),
        }
    }


@pytest.mark.parametrize(
    ("form", "condition"),
    [
        (("", "", ""), None),
        (("  ", "gt", "5"), None),  # no attribute: the operator and value are ignored
        (("plan", "eq", "pro"), attribute("plan", "eq", "pro")),
        ((" plan ", "", "pro"), attribute("plan", "eq", "pro")),  # no operator: "is"
        (("plan", "exists", "ignored"), attribute("plan", "exists")),
        (("seats", "gte", "20"), attribute("seats", "gte", 20)),  # a number when it spells one
        (("score", "lt", "2.5"), attribute("score", "lt", 2.5)),
        (("at", "lt", "2024-01-01"), attribute("at", "lt", "2024-01-01")),  # else text: a date
        (("code", "eq", "007"), attribute("code", "eq", "007")),  # eq compares the text
    ],
)
def test_the_attribute_filter_is_a_condition_of_the_language(form, condition):
    expected = None if condition is None else parse(condition)
    assert parse_filter(*form) == expected


@pytest.mark.parametrize(
    ("form", "says"),
    [
        (("seats", "gt", "lots"), "must be a date"),
        (("plan", "bogus", "x"), "operator must be one of"),
    ],
)
def test_an_attribute_filter_the_language_refuses_is_a_400_saying_why(form, says):
    with pytest.raises(ApiError) as raised:
        parse_filter(*form)
    assert raised.value.status == 400 and says in raised.value.message


def test_the_segment_filter_is_an_id_or_none():
    assert parse_segment("") is None
    assert parse_segment("12") == 12
    for bad in ("12; drop", "-1", "1e3", "9" * 12):
        with pytest.raises(ApiError) as raised:
            parse_segment(bad)
        assert "choose a segment" in raised.value.message
