"""The plan of `tidings apply`: parse a workspace file, compare it with existing segments."""

from __future__ import annotations

import pytest

from tidings.errors import ApiError
from tidings.workspaces.apply import Change, Desired, parse, plan

PRO = {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}}


def shown(id_, name, conditions=None, description="", tags=None):
    """A segment as the App API shows it."""
    segment = {"id": id_, "name": name, "description": description, "tags": tags}
    segment["type"] = "manual" if conditions is None else "dynamic"
    if conditions is not None:
        segment["conditions"] = conditions
    return segment


def test_parse_reads_segments_with_defaults():
    document = {"segments": [{"name": " VIPs ", "conditions": PRO}, {"name": "M", "tags": ["a"]}]}
    assert parse(document) == [Desired("VIPs", "", (), PRO), Desired("M", "", ("a",), None)]
    assert parse(None) == [] and parse({"segments": None}) == []


@pytest.mark.parametrize(
    ("document", "path"),
    [
        ([], "segments"),
        ({"segment": []}, "segments"),
        ({"segments": {}}, "segments"),
        ({"segments": ["x"]}, "segments[0]"),
        ({"segments": [{"name": ""}]}, "segments[0].name"),
        ({"segments": [{"name": "a", "desc": "x"}]}, "segments[0].desc"),
        ({"segments": [{"name": "a", "tags": "x"}]}, "segments[0].tags"),
        ({"segments": [{"name": "a", "description": 3}]}, "segments[0].description"),
        ({"segments": [{"name": "a"}, {"name": "b", "conditions": {"and": []}}]},
         "segments[1].conditions.and"),
        ({"segments": [{"name": "a"}, {"name": "a"}]}, "segments"),
    ],
)  # fmt: skip
def test_parse_refuses_bad_documents_naming_the_path(document, path):
    with pytest.raises(ApiError) as raised:
        parse(document)
    assert raised.value.message.startswith(path)


def test_plan_creates_updates_and_leaves_alone():
    desired = parse(
        {
            "segments": [
                {"name": "New", "conditions": PRO},
                {"name": "Same", "conditions": PRO, "description": "d", "tags": ["t"]},
                {"name": "Changed", "conditions": {"not": PRO}, "description": "new"},
                {"name": "Manual"},
            ]
        }
    )
    existing = [
        shown(1, "Same", PRO, "d", ["t"]),
        shown(2, "Changed", PRO, "old"),
        shown(3, "Manual"),
        shown(4, "Not in the file", PRO),
    ]
    changes = plan(desired, existing)
    assert [(c.action, c.segment_id, c.fields) for c in changes] == [
        ("create", None, ()),
        ("unchanged", 1, ()),
        ("update", 2, ("description", "conditions")),
        ("unchanged", 3, ()),
    ]
    assert [c.describe() for c in changes] == [
        'create segment "New"',
        'unchanged segment "Same"',
        'update segment "Changed": description, conditions',
        'unchanged segment "Manual"',
    ]


def test_condition_key_order_does_not_count_as_a_change():
    reordered = {"attribute": {"value": "pro", "operator": "eq", "field": "plan"}}
    changes = plan([Desired("S", conditions=reordered)], [shown(1, "S", PRO)])
    assert changes == [Change("unchanged", Desired("S", conditions=reordered), 1)]


@pytest.mark.parametrize(
    ("desired", "existing"),
    [
        (Desired("S"), [shown(1, "S", PRO)]),
        (Desired("S", conditions=PRO), [shown(1, "S")]),
        (Desired("S"), [shown(1, "S"), shown(2, "S")]),
    ],
)
def test_plan_refuses_what_it_cannot_do(desired, existing):
    with pytest.raises(ApiError):
        plan([desired], existing)
