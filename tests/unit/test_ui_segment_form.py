"""The segment builder's form (`ui/segment_form.py`): form fields to the condition
document and back, builder buttons, and parser errors mapped to their input."""

from __future__ import annotations

import pytest

from tidings.errors import ApiError
from tidings.segments.conditions import parse
from tidings.ui import segment_form as sf
from tidings.ui import segment_stored

PRO = {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}}

STORED = [
    PRO,
    {"and": [PRO, {"or": [{"segment": {"id": 3}}, {"device": {"platform": "ios"}}]}]},
    {"not": {"or": [PRO, {"relationship": {"object_type_id": "1", "object_id": "acme"}}]}},
    {"not": {"attribute": {"field": "age", "operator": "gte", "value": 18}}},
    {"attribute": {"field": "n", "operator": "eq", "value": "42"}},  # text, not the number
    {"attribute": {"field": "n", "operator": "in", "value": ["a,b", 5, "5", " x", True]}},
    {"attribute": {"field": "seen", "operator": "within_last", "value": {"days": 30}}},
    {"attribute": {"field": "seen", "operator": "within_last", "value": 3600}},
    {"attribute": {"field": "joined", "operator": "after", "value": "2024-01-01"}},
    {"attribute": {"field": "email", "operator": "exists"}},
    {"attribute": {"field": "bio", "operator": "contains", "value": ' "quoted" '}},
    {
        "event": {
            "name": "purchase",
            "type": "screen",
            "where": [{"field": "total", "operator": "gte", "value": 50}],
            "count": {"gte": 2, "lte": 5},
            "within_last": {"hours": 12},
            "between": [1700000000, "2024-12-31T23:59:59Z"],
        }
    },
    {"page_view": {"name": "/pricing"}},
    {"and": [{"and": [{"and": [PRO]}]}, {"device": {}}]},
]


def as_form(node: sf.Node) -> dict[str, str]:
    """What a browser posts for a rendered tree."""
    form = {f"{node.key}.kind": node.kind}
    if node.negate:
        form[f"{node.key}.not"] = "1"
    form.update({f"{node.key}.{name}": text for name, text in node.values.items()})
    for n, test in enumerate(node.tests):
        form.update({f"{node.key}.w{n}.{name}": text for name, text in test.items()})
    for child in node.children:
        form.update(as_form(child))
    return form


@pytest.mark.parametrize("stored", STORED)
def test_a_stored_condition_comes_back_from_the_form_unchanged_in_meaning(stored):
    tree = sf.from_form(as_form(segment_stored.from_condition(stored)))
    document, _ = sf.to_condition(tree)
    assert parse(document) == parse(stored)


def test_the_form_makes_the_document_the_api_takes():
    form = {
        "c.kind": "all",
        "c.0.kind": "attribute",
        "c.0.field": "plan",
        "c.0.operator": "eq",
        "c.0.value": "pro",
        "c.1.kind": "any",
        "c.1.0.kind": "event",
        "c.1.0.name": "purchase",
        "c.1.0.type": "event",
        "c.1.0.min": "2",
        "c.1.0.within": "30 days",
        "c.1.1.kind": "attribute",
        "c.1.1.not": "1",
        "c.1.1.field": "age",
        "c.1.1.operator": "gt",
        "c.1.1.value": "17.5",
    }
    document, _ = sf.to_condition(sf.from_form(form))
    assert document == {
        "and": [
            PRO,
            {
                "or": [
                    {
                        "event": {
                            "name": "purchase",
                            "count": {"gte": 2},
                            "within_last": {"days": 30},
                        }
                    },
                    {"not": {"attribute": {"field": "age", "operator": "gt", "value": 17.5}}},
                ]
            },
        ]
    }


def test_buttons_add_and_remove_conditions_groups_and_data_tests():
    root = sf.blank("all")
    root = sf.apply_action(root, "group:c")
    root = sf.apply_action(root, "add:c.1")
    assert [child.key for child in root.children[1].children] == ["c.1.0", "c.1.1"]
    assert root.children[1].kind == "any"
    root = sf.apply_action(root, "remove:c.0")
    assert [child.key for child in root.children] == ["c.0"]  # keys stay dense
    root.children[0].children[0].kind = "event"
    root = sf.apply_action(root, "add-test:c.0.0")
    root = sf.apply_action(root, "add-test:c.0.0")
    root = sf.apply_action(root, "remove-test:c.0.0.w0")
    assert len(root.children[0].children[0].tests) == 1
    assert sf.apply_action(root, "remove:c").key == "c"  # the root stays
    assert sf.apply_action(root, "bogus:c.9") is root


def error_at(form: dict[str, str]) -> str | None:
    document, paths = sf.to_condition(sf.from_form(form))
    with pytest.raises(ApiError) as raised:
        parse(document, sf.PATH)
    return sf.error_input(raised.value.field, paths)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"c.0.kind": "attribute", "c.0.field": "", "c.0.operator": "eq"}, "c.0.field"),
        (
            {"c.0.kind": "attribute", "c.0.field": "a", "c.0.operator": "gt", "c.0.value": "x"},
            "c.0.value",
        ),
        ({"c.0.kind": "event", "c.0.min": "many"}, "c.0.min"),
        ({"c.0.kind": "event", "c.0.within": "a while"}, "c.0.within"),
        ({"c.0.kind": "event", "c.0.since": "2024-01-01"}, "c.0.until"),
        ({"c.0.kind": "segment", "c.0.segment": ""}, "c.0.segment"),
        ({"c.0.kind": "event", "c.0.w0.field": "", "c.0.w0.operator": "eq"}, "c.0.w0.field"),
        ({"c.0.kind": "any", "c.1.kind": "device"}, "c.0"),  # an empty group
    ],
)
def test_a_parser_error_points_at_its_input(fields, expected):
    assert error_at({"c.kind": "all", **fields}) == expected


def test_values_are_typed_as_the_help_says():
    assert sf.value("42") == 42 and sf.value("-2.5") == -2.5
    assert sf.value('"42"') == "42" and sf.value("007") == "007" and sf.value("true") == "true"
    assert sf.split_list('a, "b, c", 3') == ["a", '"b, c"', "3"]
    assert sf.duration("2 hours") == {"hours": 2} and sf.duration("90") == 90
