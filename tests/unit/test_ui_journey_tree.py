"""The journey tree the campaign pages draw (`ui/journey_tree.py`): each step's kind and
one line, branches' paths nested under their labels, action ids found by key."""

from __future__ import annotations

from tidings.campaigns import definitions
from tidings.ui import journey_tree

PRO = {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}}


def shown_workflow(document: dict) -> list:
    """The document's workflow, after the campaign parser has accepted it (the tree is
    drawn from the document form `GET /v1/campaigns/{id}` shows, durations in seconds)."""
    parsed = definitions.parse({"name": "x", "trigger": {"event": {"name": "e"}}, **document})
    assert parsed.workflow  # the document is valid
    return document["workflow"]


def test_each_step_has_its_kind_and_one_line():
    workflow = shown_workflow(
        {
            "workflow": [
                {"key": "a", "email": {"subject": "Welcome", "body": "<p>x</p>"}},
                {"key": "b", "delay": 86400 + 43200},
                {"key": "c", "wait_until": {"event": {"name": "purchased"}, "timeout": 259200}},
                {"key": "d", "sms": {"body": "Still   there?"}},
                {"key": "e", "update": {"attributes": {"vip": True, "level": 2}}},
                {"key": "f", "exit": {}},
            ]
        }
    )
    steps = journey_tree.build(workflow, {"a": 1, "b": 2, "c": 3, "d": 4})
    assert [(s.action_id, s.kind, s.summary) for s in steps] == [
        (1, "Email", "Email: Welcome"),
        (2, "Delay", "Delay 1 day 12 hours"),
        (3, "Wait until", "Wait until purchased or 3 days"),
        (4, "SMS", "SMS: Still there?"),
        (None, "Update attributes", "Set level, vip"),
        (None, "Exit", "Exit the campaign"),
    ]
    assert [s.message for s in steps] == [True, False, False, True, False, False]


def test_branches_and_splits_nest_their_paths():
    workflow = [
        {
            "key": "b",
            "branch": {
                "if": PRO,
                "then": [{"key": "t", "email": {"subject": "Pro"}}],
                "else": [],
            },
        },
        {
            "key": "r",
            "random": {
                "paths": [
                    {"percent": 30, "steps": [{"key": "x", "delay": 60}]},
                    {"percent": 70, "steps": []},
                ]
            },
        },
        {"key": "s", "split": {"paths": [{"if": {"not": PRO}, "steps": []}], "else": []}},
    ]
    branch, random, split = journey_tree.build(workflow, {"b": 1, "t": 2, "r": 3, "x": 4})
    assert branch.summary == "If plan is pro"
    assert [(p.label, [s.summary for s in p.steps]) for p in branch.paths] == [
        ("If true", ["Email: Pro"]),
        ("Otherwise", []),
    ]
    assert [p.label for p in random.paths] == ["30% of people", "70% of people"]
    assert random.paths[0].steps[0].summary == "Delay 1 minute"
    assert [p.label for p in split.paths] == ["If not plan is pro", "Otherwise"]
    assert [s.action_id for s in journey_tree.each([branch, random, split])] == [1, 2, 3, 4, None]


def test_triggers_and_durations_in_words():
    assert journey_tree.trigger_words({"trigger": {"event": {"name": "signed_up"}}}) == (
        "When someone performs signed_up"
    )
    assert journey_tree.trigger_words({"trigger": {"segment": {"id": 3, "on": "exit"}}}) == (
        "When someone leaves segment 3"
    )
    assert journey_tree.trigger_words({"audience": PRO}) == "Triggered through the API"
    assert journey_tree.duration(90) == "1 minute 30 seconds"
    assert journey_tree.duration(0) == "0 seconds"
    either = {"or": [PRO, {"event": {"name": "bought"}}]}
    assert journey_tree.condition_words(either) == "(plan is pro or did bought)"
