"""Deleting a segment only when nothing uses it (`campaigns/segment_use.py`, the web
UI's delete), on both stores."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tidings.campaigns import segment_use
from tidings.campaigns import service as campaigns
from tidings.db.schema import segment_members
from tidings.errors import ApiError
from tidings.people import service as people
from tidings.people.identifiers import classify
from tidings.segments import membership
from tidings.segments import service as segments

NOW = 1_700_000_000


def _manual(tx, ws: int, name: str) -> int:
    return tx(segments.create_manual, ws, {"segment": {"name": name}}, NOW)["id"]


def _dynamic(tx, ws: int, name: str, conditions: dict) -> int:
    body = {"segment": {"name": name, "conditions": conditions}}
    return tx(membership.create_segment, ws, body, NOW)["id"]


def _campaign(tx, ws: int, trigger: dict) -> int:
    document = {"name": "C", "trigger": trigger, "workflow": [{"delay": {"days": 1}}]}
    return tx(campaigns.create, ws, campaigns.parse_document(document, "campaign"), NOW)["id"]


def _members(query, segment_id: int) -> int:
    counted = select(func.count()).where(segment_members.c.segment_id == segment_id)
    return query(lambda conn: conn.execute(counted).scalar_one())


def test_an_unused_manual_segment_is_deleted_with_its_members(tx, query, workspace):
    ws = workspace.workspace_id
    sid = _manual(tx, ws, "Beta testers")
    tx(people.identify, ws, classify("ada"), people.parse_identify({}, NOW), NOW)
    tx(segments.change_members, ws, sid, "id", ["ada"], NOW, True)
    assert _members(query, sid) == 1
    assert tx(segment_use.delete_unused, ws, sid) == {
        "id": sid,
        "name": "Beta testers",
        "type": "manual",
    }
    with pytest.raises(ApiError) as gone:
        query(segments.get, ws, sid)
    assert gone.value.status == 404
    assert _members(query, sid) == 0


def test_a_data_driven_segment_is_deleted_too(tx, query, workspace):
    ws = workspace.workspace_id
    sid = _dynamic(tx, ws, "Pros", {"attribute": {"field": "plan", "operator": "eq", "value": "p"}})
    assert tx(segment_use.delete_unused, ws, sid)["type"] == "dynamic"
    assert [s["id"] for s in query(segments.list_all, ws)] == []


def test_a_segment_a_campaign_or_another_segment_uses_is_refused_and_kept(tx, query, workspace):
    ws = workspace.workspace_id
    sid = _manual(tx, ws, "VIPs")
    campaign_id = _campaign(tx, ws, {"segment": {"id": sid}})
    inner = _dynamic(tx, ws, "VIP pros", {"segment": {"id": sid}})
    with pytest.raises(ApiError) as refused:
        tx(segment_use.delete_unused, ws, sid)
    assert refused.value.status == 409
    assert refused.value.message == (
        f"segment {sid} is in use by campaign {campaign_id} and segment 'VIP pros' ({inner}): "
        "take it out of them first; nothing was deleted"
    )
    assert query(segments.get, ws, sid)["name"] == "VIPs"
    uses = query(segment_use.uses_of, ws, sid)
    assert uses["campaigns"] == [campaign_id]
    assert uses["segments"] == [{"id": inner, "name": "VIP pros"}]


def test_an_unknown_segment_or_another_workspaces_is_a_404(tx, workspace, db):
    from tests.conftest import new_workspace

    sid = _manual(tx, workspace.workspace_id, "Mine")
    other = new_workspace(db).workspace_id
    for ws, segment_id in ((workspace.workspace_id, 999_999), (other, sid)):
        with pytest.raises(ApiError) as missing:
            tx(segment_use.delete_unused, ws, segment_id)
        assert missing.value.status == 404


def test_uses_are_described_in_words():
    uses = {"campaigns": [3], "broadcasts": [5], "draft_newsletters": [7], "segments": []}
    assert segment_use.describe(uses) == "campaign 3, broadcast 5 and newsletter 7"
    assert segment_use.describe({"broadcasts": [5]}) == "broadcast 5"
