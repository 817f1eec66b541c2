"""Campaign definitions saved and read back, on both stores: steps keep their ids by key."""

from __future__ import annotations

import pytest

from tidings.campaigns import definitions, store
from tidings.errors import ApiError

DOCUMENT = {
    "name": "Welcome",
    "state": "running",
    "trigger": {
        "event": {
            "name": "signed_up",
            "where": [{"field": "plan", "operator": "eq", "value": "pro"}],
        }
    },
    "workflow": [
        {
            "key": "hello",
            "email": {"from": "a@x.test", "subject": "Hi {{customer.first_name}}", "body": "b"},
        },
        {"delay": {"days": 1}},
        {
            "branch": {
                "if": {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}},
                "then": [{"sms": {"body": "hi"}}],
                "else": [],
            }
        },
        "exit",
    ],
}


def test_a_workflow_is_linked_in_order_and_branches_rejoin(db, workspace):
    ws = workspace.workspace_id
    with db.writer.begin() as conn:
        campaign_id = store.create(conn, ws, definitions.parse(DOCUMENT), 1_700_000_000)
        flow = store.workflow(conn, campaign_id)
    assert flow is not None and flow.state == "running"
    by_key = {a.key: a for a in flow.actions.values()}
    assert sorted(by_key) == ["1", "2", "2.then.0", "3", "hello"]
    assert flow.first_id == by_key["hello"].id
    assert by_key["hello"].next_id == by_key["1"].id
    assert by_key["1"].settings == {"seconds": 86400}
    branch = by_key["2"]
    assert branch.paths == [by_key["2.then.0"].id, by_key["3"].id]  # empty else: the step after
    assert by_key["2.then.0"].next_id == by_key["3"].id
    assert by_key["2.then.0"].parent_id == branch.id
    assert by_key["3"].next_id is None


def test_saving_again_keeps_ids_by_key_and_marks_removed_steps(db, workspace):
    ws = workspace.workspace_id
    with db.writer.begin() as conn:
        campaign_id = store.create(conn, ws, definitions.parse(DOCUMENT), 1_700_000_000)
        before = {a.key: a.id for a in store.workflow(conn, campaign_id).actions.values()}
        changed = {**DOCUMENT, "workflow": [DOCUMENT["workflow"][0], "exit"]}
        store.replace(conn, ws, campaign_id, definitions.parse(changed), 1_700_000_000)
        flow = store.workflow(conn, campaign_id)
    after = {a.key: a.id for a in flow.actions.values()}
    assert after["hello"] == before["hello"]
    assert set(after) == {"hello", "1"}
    assert before["2"] in flow.removed and before["1"] == after["1"]


@pytest.mark.parametrize(
    ("document", "path"),
    [
        ({"name": "x", "trigger": {"event": {}}}, "campaign.trigger.event.name"),
        ({"name": "x", "trigger": {"evnt": {"name": "a"}}}, "campaign.trigger.evnt"),
        (
            {"name": "x", "trigger": {"event": {"name": "a"}}, "workflow": [{"delay": -5}]},
            "campaign.workflow[0].delay",
        ),
        (
            {
                "name": "x",
                "trigger": {"event": {"name": "a"}},
                "workflow": [{"email": {"subject": "{% if %}"}}],
            },
            "campaign.workflow[0].email.subject",
        ),
        (
            {
                "name": "x",
                "trigger": {"event": {"name": "a"}},
                "workflow": [{"random": {"paths": [{"percent": 60}, {"percent": 30}]}}],
            },
            "campaign.workflow[0].random.paths",
        ),
        (
            {
                "name": "x",
                "trigger": {"event": {"name": "a"}},
                "workflow": [{"key": "k", "delay": 1}, {"key": "k", "delay": 2}],
            },
            "campaign.workflow",
        ),
    ],
)
def test_bad_definitions_name_the_part_at_fault(document, path):
    with pytest.raises(ApiError) as caught:
        definitions.parse(document)
    assert caught.value.status == 400
    assert caught.value.field == path, caught.value.message
