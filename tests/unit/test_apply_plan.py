"""The plan of `tidings apply`: parse a workspace file, compare it with existing segments."""

from __future__ import annotations

import re

import pytest

from tidings.errors import ApiError
from tidings.workspaces.apply import Change, Desired, parse
from tidings.workspaces.apply import plan_segments as plan

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
    expected = [Desired("VIPs", "", (), PRO), Desired("M", "", ("a",), None)]
    assert parse(document).segments == expected
    assert parse(None).segments == [] and parse({"segments": None}).segments == []


@pytest.mark.parametrize(
    ("document", "path"),
    [
        ([], "the file must be a mapping of"),
        ({"segment": []}, "unknown key 'segment'; did you mean 'segments'?"),
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
    ).segments
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


# --- message resources ------------------------------------------------------------

RESOURCES = {
    "transactional_messages": [
        {"name": "Reset", "trigger_name": "Reset", "contents": {"": {"subject": "s"}}}
    ],
    "snippets": [{"name": "footer", "value": "bye"}],
    "sender_identities": [{"email": "Ops@Acme.test", "name": "Ops"}],
    "layouts": [{"name": "base", "body": "{{ content }}"}],
    "providers": [{"channel": "email", "kind": "smtp", "config": {"host": "mx"}}],
}


def test_resources_are_parsed_and_keyed_as_matched():
    found = parse(RESOURCES).resources
    assert list(found.messages) == ["reset"]
    assert found.snippets == {"footer": "bye"}
    assert found.senders == {"ops@acme.test": "Ops"}
    assert found.layouts == {"base": "{{ content }}"}
    assert found.providers == {"email": ("smtp", {"host": "mx"})}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"snippets": {}}, "snippets: must be a list"),
        ({"snippets": [{"name": "a"}]}, "snippets[0]: value must be a string"),
        ({"providers": [{"channel": "fax", "kind": "smtp"}]}, "providers[0]: channel must be"),
        (
            {"providers": [{"channel": "email", "kind": "twilio"}]},
            "providers[0]: kind must be one of: capture, smtp, ses, sendgrid, postmark, mailgun"
            " (for the email channel)",
        ),
        ({"segmnets": []}, "unknown key 'segmnets'; did you mean 'segments'?"),
        ({"layout": []}, "unknown key 'layout'; did you mean 'layouts'?"),
        ({"zzz": []}, "unknown key 'zzz'; the keys are: segments, transactional_messages"),
        ({"providers": [{"channel": "email", "kind": "smtp", "config": []}]}, "config must be"),
        (
            {"providers": [{"channel": "email", "kind": "smtp", "config": {"hots": "mx"}}]},
            "smtp provider config",
        ),
        (
            {"providers": [{"channel": "push", "kind": "apns", "config": {"key_id": "k"}}]},
            "apns provider config",
        ),
        ({"layouts": [{"name": "a", "body": "x"}, {"name": "a", "body": "y"}]}, "appears twice"),
        ({"transactional_messages": [{"name": "x", "channel": "fax"}]}, "channel must be"),
    ],
)
def test_resource_errors_name_the_item(document, message):
    with pytest.raises(ApiError, match=re.escape(message)):
        parse(document)


def test_resources_plan_create_update_unchanged():
    from tidings.workspaces.resources import plan_resources

    want = parse(RESOURCES).resources
    steps = plan_resources(want, parse({}).resources)
    assert [s.describe() for s in steps] == [
        'create transactional message "reset"',
        'create snippet "footer"',
        'create sender identity "ops@acme.test"',
        'create layout "base"',
        'create provider "email"',
    ]
    assert {s.action for s in plan_resources(want, want)} == {"unchanged"}
    changed = dict(RESOURCES, snippets=[{"name": "footer", "value": "new"}])
    steps = plan_resources(parse(changed).resources, want)
    assert [s.action for s in steps if s.kind == "snippet"] == ["update"]


def test_resource_updates_name_the_fields_they_change():
    from tidings.workspaces.resources import plan_resources

    have = parse(RESOURCES).resources
    changed = dict(
        RESOURCES,
        transactional_messages=[
            {
                "name": "Reset",
                "trigger_name": "Reset",
                "description": "new",
                "contents": {"": {"subject": "s"}, "fr": {"subject": "r"}},
            }
        ],
        snippets=[{"name": "footer", "value": "new"}],
        providers=[{"channel": "email", "kind": "smtp", "config": {"host": "mx2", "port": 25}}],
    )
    steps = plan_resources(parse(changed).resources, have)
    assert [s.describe() for s in steps if s.action == "update"] == [
        'update transactional message "reset": description, contents.fr',
        'update snippet "footer": value',
        'update provider "email": config.host, config.port',
    ]
