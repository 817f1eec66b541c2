from tidings.people import read, service
from tidings.people.identifiers import classify


def test_identify_creates_then_merges_attributes(tx, query, workspace):
    now = 1_700_000_000
    ws = workspace.workspace_id
    tx(service.identify, ws, classify("u1"), service.parse_identify({"plan": "pro"}, now), now)
    tx(service.identify, ws, classify("u1"), service.parse_identify({"n": 3}, now + 1), now + 1)
    shown = query(read.attributes_of, ws, "u1", "id")["customer"]
    assert shown["attributes"]["plan"] == "pro"
    assert shown["attributes"]["n"] == "3"
    assert shown["timestamps"]["n"] == now + 1
