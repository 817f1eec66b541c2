"""The condition language's parser: every operator, and every refusal names its path."""

import pytest

from tidings.errors import ApiError
from tidings.segments.conditions import (
    And,
    Attribute,
    Check,
    Device,
    Event,
    InSegment,
    Not,
    Or,
    Relationship,
    Scalar,
    parse,
)


def attr(operator, value=None, field="plan"):
    body = {"field": field, "operator": operator}
    if value is not None:
        body["value"] = value
    return {"attribute": body}


def test_customer_io_core_shapes():
    tree = parse(
        {
            "and": [
                {"segment": {"id": 3}},
                {"or": [attr("eq", "pro"), attr("exists")]},
                {"not": attr("eq", True, field="unsubscribed")},
            ]
        }
    )
    assert tree == And(
        (
            InSegment(3),
            Or(
                (
                    Attribute("plan", Check("eq", (Scalar("pro"),))),
                    Attribute("plan", Check("exists")),
                )
            ),
            Not(Attribute("unsubscribed", Check("eq", (Scalar("true"),)))),
        )
    )


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [
        ("eq", "a", Check("eq", (Scalar("a"),))),
        ("eq", 5, Check("eq", (Scalar("5", 5.0),))),
        ("eq", 1.5, Check("eq", (Scalar("1.5", 1.5),))),
        ("not_eq", "a", Check("not_eq", (Scalar("a"),))),
        ("contains", "b", Check("contains", (Scalar("b"),))),
        ("starts_with", "c", Check("starts_with", (Scalar("c"),))),
        ("in", ["a", 2, False], Check("in", (Scalar("a"), Scalar("2", 2.0), Scalar("false")))),
        ("gt", 3, Check("gt", bound=3.0)),
        ("gte", 3.5, Check("gte", bound=3.5)),
        ("lt", -1, Check("lt", bound=-1.0)),
        ("lte", 0, Check("lte", bound=0.0)),
        ("before", "2024-01-01T00:00:00Z", Check("before", bound=1704067200.0)),
        ("after", "2024-01-01", Check("after", bound=1704067200.0)),
        ("after", "1704067200", Check("after", bound=1704067200.0)),
        ("within_last", 60, Check("within_last", bound=60)),
        ("within_last", {"days": 7}, Check("within_last", bound=7 * 86400)),
        ("within_last", {"hours": 2}, Check("within_last", bound=7200)),
    ],
)
def test_every_operator(operator, value, expected):
    assert parse(attr(operator, value)) == Attribute("plan", expected)


def test_event_with_everything():
    tree = parse(
        {
            "event": {
                "name": "purchase",
                "type": "event",
                "where": [{"field": "total", "operator": "gt", "value": 10}],
                "count": {"gte": 2, "lte": 5},
                "within_last": {"days": 30},
                "between": [1000, "1970-01-01T01:00:00Z"],
            }
        }
    )
    assert tree == Event(
        "event",
        "purchase",
        (Attribute("total", Check("gt", bound=10.0)),),
        2,
        5,
        30 * 86400,
        (1000, 3600),
    )


def test_event_defaults_and_page_view_sugar():
    assert parse({"event": {"name": "x"}}) == Event("event", "x", ())
    assert parse({"event": {"type": "screen"}}) == Event("screen", None, ())
    assert parse({"page_view": {"name": "/home"}}) == Event("page", "/home", ())
    assert parse({"event": {"name": "x", "count": {"lte": 0}}}) == Event("event", "x", (), 0, 0)


def test_device_relationship_segment():
    assert parse({"device": {}}) == Device(None)
    assert parse({"device": {"platform": "ios"}}) == Device("ios")
    assert parse({"relationship": {"object_type_id": 1}}) == Relationship("1", None)
    assert parse({"relationship": {"object_type_id": "1", "object_id": "acme"}}) == Relationship(
        "1", "acme"
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([], "filter"),
        ({}, "filter"),
        ({"and": [], "or": []}, "filter"),
        ({"nope": {}}, "filter.nope"),
        ({"and": []}, "filter.and"),
        ({"or": {"segment": {"id": 1}}}, "filter.or"),
        ({"and": [{"segment": {"id": 1}}, attr("zz", "a")]}, "filter.and[1].attribute.operator"),
        ({"not": [attr("exists")]}, "filter.not"),
        ({"segment": {"id": "1"}}, "filter.segment.id"),
        ({"segment": {"id": 0}}, "filter.segment.id"),
        ({"segment": {"id": 1, "x": 2}}, "filter.segment.x"),
        ({"segment": 1}, "filter.segment"),
        ({"attribute": {"operator": "exists"}}, "filter.attribute.field"),
        ({"attribute": {"field": 3, "operator": "exists"}}, "filter.attribute.field"),
        (attr("eq"), "filter.attribute.value"),
        (attr("eq", {"a": 1}), "filter.attribute.value"),
        (attr("in", "a"), "filter.attribute.value"),
        (attr("in", []), "filter.attribute.value"),
        (attr("in", ["a", ["b"]]), "filter.attribute.value[1]"),
        (attr("gt", True), "filter.attribute.value"),
        (attr("gt", "soon"), "filter.attribute.value"),
        (attr("within_last", 0), "filter.attribute.value"),
        (attr("within_last", {"weeks": 1}), "filter.attribute.value.weeks"),
        (attr("within_last", {"days": -1}), "filter.attribute.value.days"),
        ({"event": {"type": "click"}}, "filter.event.type"),
        ({"event": {"name": ""}}, "filter.event.name"),
        ({"event": {"count": {"gte": -1}}}, "filter.event.count.gte"),
        ({"event": {"count": {"gte": 3, "lte": 2}}}, "filter.event.count.lte"),
        ({"event": {"count": {}}}, "filter.event.count"),
        ({"event": {"count": {"eq": 1}}}, "filter.event.count.eq"),
        ({"event": {"between": [1]}}, "filter.event.between"),
        ({"event": {"between": [1, "x"]}}, "filter.event.between[1]"),
        ({"event": {"between": [5, 1]}}, "filter.event.between[1]"),
        ({"event": {"within_last": "7d"}}, "filter.event.within_last"),
        ({"event": {"where": {}}}, "filter.event.where"),
        ({"event": {"where": [{"field": "a"}]}}, "filter.event.where[0].operator"),
        (
            {"event": {"where": [{"field": 'a"b', "operator": "exists"}]}},
            "filter.event.where[0].field",
        ),
        ({"page_view": {"type": "page"}}, "filter.page_view.type"),
        ({"device": {"platform": 1}}, "filter.device.platform"),
        ({"relationship": {}}, "filter.relationship.object_type_id"),
        (
            {"relationship": {"object_type_id": "1", "object_id": ""}},
            "filter.relationship.object_id",
        ),
    ],
)
def test_refusals_name_the_offending_path(body, field):
    with pytest.raises(ApiError) as caught:
        parse(body)
    assert caught.value.status == 400
    assert caught.value.field == field


def test_nesting_is_bounded():
    deep = attr("exists")
    for _ in range(40):
        deep = {"not": deep}
    with pytest.raises(ApiError) as caught:
        parse(deep)
    assert caught.value.field.startswith("filter.not.not")


def test_the_caller_names_the_root():
    with pytest.raises(ApiError) as caught:
        parse({"nope": 1}, "recipients")
    assert caught.value.field == "recipients.nope"


# The limits below are written as numbers, not read from the module: docs/conditions.md
# promises them, so changing one must fail here.


def _nested(levels):
    body = attr("exists")
    for _ in range(levels):
        body = {"not": body}
    return body


def test_sixteen_levels_of_nesting_below_the_root_are_accepted_and_seventeen_are_not():
    assert parse(_nested(16)) is not None
    with pytest.raises(ApiError) as caught:
        parse(_nested(17))
    assert "deeper than 16 levels" in caught.value.message


@pytest.mark.parametrize(
    "build",
    [
        lambda n: {"and": [attr("exists")] * n},
        lambda n: {"or": [attr("exists")] * n},
        lambda n: attr("in", ["a"] * n),
        lambda n: {"event": {"where": [{"field": "k", "operator": "exists"}] * n}},
    ],
    ids=["and", "or", "in", "where"],
)
def test_lists_hold_at_most_1000_items(build):
    assert parse(build(1000)) is not None
    with pytest.raises(ApiError) as caught:
        parse(build(1001))
    assert caught.value.status == 400


@pytest.mark.parametrize(
    ("unit", "seconds"), [("seconds", 1), ("minutes", 60), ("hours", 3600), ("days", 86400)]
)
def test_each_duration_unit_is_worth_its_seconds(unit, seconds):
    assert parse(attr("within_last", {unit: 3})) == Attribute(
        "plan", Check("within_last", bound=3 * seconds)
    )


@pytest.mark.parametrize("unit", ["weeks", "months", "years", "ms", "day"])
def test_other_duration_units_are_refused(unit):
    with pytest.raises(ApiError) as caught:
        parse(attr("within_last", {unit: 1}))
    assert caught.value.message.endswith("unit must be one of: seconds, minutes, hours, days")


def test_a_duration_in_seconds_stops_below_2_to_the_40():
    assert parse(attr("within_last", 2**40 - 1)) == Attribute(
        "plan", Check("within_last", bound=2**40 - 1)
    )
    with pytest.raises(ApiError):
        parse(attr("within_last", 2**40))
    with pytest.raises(ApiError):
        parse(attr("within_last", {"days": 2**31}))
