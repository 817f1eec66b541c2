"""Evaluating conditions for one person in Python, table-driven."""

import pytest

from tidings.segments.conditions import parse
from tidings.segments.evaluate import EventFact, PersonFacts, matches

NOW = 1_700_000_000
DAY = 86400

PERSON = PersonFacts(
    attributes={
        "plan": ("pro", "s"),
        "age": ("42", "n"),
        "score": ("2.5", "n"),
        "zip": ("01234", "s"),
        "vip": ("true", "b"),
        "prefs": ('{"a":1}', "j"),
        "seen": (str(NOW - 2 * DAY), "n"),
        "seen_text": (str(NOW - 2 * DAY), "s"),
        "imported": ("2.5e3", "s"),
        "padded": (" 12", "s"),
        "nan": ("NaN", "s"),
        "infinite": ("Infinity", "s"),
        "huge": ("9" * 400, "n"),  # stored before input was range-checked
        "huge_text": ("1e400", "s"),
        "tiny_text": ("1e-400", "s"),
    },
    events=(
        EventFact("event", "purchase", NOW - DAY, {"total": 30, "sku": "A-1", "gift": True}),
        EventFact("event", "purchase", NOW - 10 * DAY, {"total": 5, "sku": "B-2", "note": None}),
        EventFact("page", "https://x.test/pricing", NOW - 3 * DAY, {}),
        EventFact("screen", "Home", NOW - 100 * DAY, {}),
    ),
    platforms=("ios",),
    relationships=(("1", "acme"),),
    segments=frozenset({7}),
)


def attr(field, operator, value=None):
    body = {"field": field, "operator": operator}
    if value is not None:
        body["value"] = value
    return {"attribute": body}


def event(**body):
    return {"event": {"name": "purchase", **body}}


CASES = [
    (attr("plan", "eq", "pro"), True),
    (attr("plan", "eq", "Pro"), False),
    (attr("missing", "eq", "pro"), False),
    (attr("age", "eq", 42), True),
    (attr("age", "eq", 42.0), True),
    (attr("age", "eq", "42"), True),
    (attr("zip", "eq", 1234), False),
    (attr("vip", "eq", True), True),
    (attr("vip", "eq", "true"), True),
    (attr("plan", "exists"), True),
    (attr("prefs", "exists"), True),
    (attr("missing", "exists"), False),
    (attr("prefs", "eq", '{"a":1}'), False),
    (attr("plan", "not_eq", "free"), True),
    (attr("plan", "not_eq", "pro"), False),
    (attr("missing", "not_eq", "pro"), False),
    ({"not": attr("missing", "eq", "pro")}, True),
    (attr("plan", "contains", "r"), True),
    (attr("plan", "contains", "R"), False),
    (attr("plan", "starts_with", "pr"), True),
    (attr("plan", "starts_with", "ro"), False),
    (attr("plan", "in", ["free", "pro"]), True),
    (attr("plan", "in", ["free"]), False),
    (attr("age", "in", [41, 42]), True),
    (attr("age", "gt", 41), True),
    (attr("age", "gt", 42), False),
    (attr("age", "gte", 42), True),
    (attr("score", "lt", 3), True),
    (attr("score", "lte", 2.5), True),
    (attr("score", "lte", 2.4), False),
    (attr("zip", "gt", 0), False),  # "01234": a leading zero is not a number
    (attr("zip", "eq", 1234), False),
    (attr("imported", "gt", 2499), True),
    (attr("imported", "lt", 2500.5), True),
    (attr("imported", "eq", 2500), True),
    (attr("imported", "eq", "2500"), False),  # a string operand compares text
    (attr("padded", "gt", 0), False),
    (attr("padded", "eq", 12), False),
    (attr("nan", "gt", 0), False),
    (attr("nan", "lt", 0), False),
    (attr("infinite", "gt", 0), False),
    (attr("huge", "gt", 0), False),
    (attr("huge", "lt", 0), False),
    (attr("huge", "exists"), True),
    (attr("huge", "starts_with", "999"), True),
    (attr("huge_text", "gt", 0), False),
    (attr("tiny_text", "gte", 0), False),
    (attr("tiny_text", "lte", 0), False),
    (attr("seen", "after", NOW - 3 * DAY), True),
    (attr("seen", "before", NOW - 3 * DAY), False),
    (attr("seen", "within_last", {"days": 3}), True),
    (attr("seen", "within_last", {"days": 1}), False),
    (attr("seen_text", "within_last", {"days": 3}), True),
    (attr("seen_text", "after", NOW - 3 * DAY), True),
    (attr("seen_text", "before", NOW - 3 * DAY), False),
    (event(), True),
    ({"event": {"name": "refund"}}, False),
    (event(count={"gte": 2}), True),
    (event(count={"gte": 3}), False),
    (event(count={"lte": 1}), False),
    ({"event": {"name": "refund", "count": {"lte": 0}}}, True),
    (event(within_last={"days": 2}), True),
    (event(within_last={"days": 2}, count={"gte": 2}), False),
    (event(between=[NOW - 11 * DAY, NOW - 9 * DAY]), True),
    (event(between=[NOW - 9 * DAY, NOW - 2 * DAY]), False),
    (event(where=[{"field": "total", "operator": "gt", "value": 20}]), True),
    (event(where=[{"field": "total", "operator": "gt", "value": 20}], count={"gte": 2}), False),
    (event(where=[{"field": "sku", "operator": "starts_with", "value": "B"}]), True),
    (event(where=[{"field": "gift", "operator": "eq", "value": True}]), True),
    (event(where=[{"field": "note", "operator": "exists"}]), False),
    (event(where=[{"field": "sku", "operator": "exists"}], count={"gte": 2}), True),
    ({"event": {"type": "page"}}, True),
    ({"page_view": {"name": "https://x.test/pricing"}}, True),
    ({"page_view": {"name": "purchase"}}, False),
    ({"event": {"type": "screen", "within_last": {"days": 30}}}, False),
    ({"device": {}}, True),
    ({"device": {"platform": "ios"}}, True),
    ({"device": {"platform": "android"}}, False),
    ({"relationship": {"object_type_id": "1"}}, True),
    ({"relationship": {"object_type_id": "1", "object_id": "acme"}}, True),
    ({"relationship": {"object_type_id": "1", "object_id": "other"}}, False),
    ({"relationship": {"object_type_id": "2"}}, False),
    ({"segment": {"id": 7}}, True),
    ({"segment": {"id": 8}}, False),
    ({"and": [{"segment": {"id": 7}}, attr("plan", "eq", "pro")]}, True),
    ({"and": [{"segment": {"id": 7}}, attr("plan", "eq", "free")]}, False),
    ({"or": [{"segment": {"id": 8}}, attr("plan", "eq", "pro")]}, True),
    ({"or": [{"segment": {"id": 8}}, attr("plan", "eq", "free")]}, False),
    ({"not": {"segment": {"id": 8}}}, True),
]


@pytest.mark.parametrize(("body", "expected"), CASES)
def test_matches(body, expected):
    assert matches(parse(body), PERSON, NOW) is expected


def test_nobody_has_nothing():
    empty = PersonFacts()
    assert not matches(parse({"device": {}}), empty, NOW)
    assert matches(parse({"event": {"name": "x", "count": {"lte": 3}}}), empty, NOW)
