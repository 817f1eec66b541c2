"""Pending traits (an anonymous Pipelines identify) applied when the Track API
gives a person that anonymous id: v1 identify or a v2 identify."""

from tests.integration.test_pipelines import NOW, anonymous_rows, attributes, log, send
from tidings.people import service
from tidings.people.identifiers import classify
from tidings.track_v2.apply import run_operation
from tidings.track_v2.parse import parse_operation


def track_identify(tx, ws, raw, body, now=NOW):
    """`PUT /api/v1/customers/{raw}` with `body`."""
    return tx(service.identify, ws, classify(raw), service.parse_identify(body, now), now)


def v2_identify(tx, ws, user_id, attrs, now=NOW):
    raw = {"type": "person", "action": "identify", "identifiers": {"id": user_id}}
    return tx(run_operation, ws, parse_operation({**raw, "attributes": attrs}, now))


def anonymous_identify(tx, ws, anonymous_id, traits, at):
    message = {"type": "identify", "anonymousId": anonymous_id, "traits": traits}
    send(tx, ws, {**message, "timestamp": at}, now=at)


def test_track_v1_anonymous_id_applies_pending_traits(tx, query, workspace):
    ws = workspace.workspace_id
    anonymous_identify(tx, ws, "a1", {"plan": "free", "ref": "ad"}, NOW - 20)
    anonymous_identify(tx, ws, "a1", {"plan": "trial"}, NOW - 10)
    track_identify(tx, ws, "u1", {"anonymous_id": "a1"})
    shown = attributes(query, ws, "u1")
    assert (shown["plan"], shown["ref"], shown["anonymous_id"]) == ("trial", "ad", "a1")
    assert [row[2] is not None for row in anonymous_rows(query, ws, "a1")] == [True, True]
    assert [a["type"] for a in log(query, ws, "u1", "identify")] == ["identify"] * 2


def test_track_v2_identify_applies_pending_traits(tx, query, workspace):
    ws = workspace.workspace_id
    anonymous_identify(tx, ws, "a2", {"plan": "free"}, NOW - 10)
    v2_identify(tx, ws, "u2", {"anonymous_id": "a2"})
    assert attributes(query, ws, "u2")["plan"] == "free"


def test_a_newer_track_attribute_is_not_overwritten(tx, query, workspace):
    ws = workspace.workspace_id
    anonymous_identify(tx, ws, "a1", {"plan": "free", "ref": "ad"}, NOW - 50)
    track_identify(tx, ws, "u1", {"plan": "pro"}, now=NOW - 20)
    track_identify(tx, ws, "u1", {"anonymous_id": "a1"})
    shown = attributes(query, ws, "u1")
    assert (shown["plan"], shown["ref"]) == ("pro", "ad")


def test_pending_traits_older_than_the_event_window_still_apply(tx, query, workspace):
    ws = workspace.workspace_id
    anonymous_identify(tx, ws, "a1", {"plan": "free"}, NOW - 90 * 24 * 3600)
    track_identify(tx, ws, "u1", {"anonymous_id": "a1"})
    assert attributes(query, ws, "u1")["plan"] == "free"


def test_a_second_adoption_does_not_reapply(tx, query, workspace):
    ws = workspace.workspace_id
    anonymous_identify(tx, ws, "a1", {"plan": "free"}, NOW - 50)
    track_identify(tx, ws, "u1", {"anonymous_id": "a1"}, now=NOW - 40)
    track_identify(tx, ws, "u1", {"plan": None, "anonymous_id": None}, now=NOW - 30)
    track_identify(tx, ws, "u1", {"anonymous_id": "a1"})
    shown = attributes(query, ws, "u1")
    assert "plan" not in shown and shown["anonymous_id"] == "a1"
    # The Pipelines claim of the same anonymous id finds nothing pending either.
    send(tx, ws, {"type": "identify", "userId": "u1", "anonymousId": "a1"}, now=NOW + 10)
    assert "plan" not in attributes(query, ws, "u1")


def test_pipelines_claim_applies_each_pending_identify_once(tx, query, workspace):
    ws = workspace.workspace_id
    anonymous_identify(tx, ws, "a1", {"n": 1}, NOW - 10)
    send(tx, ws, {"type": "identify", "userId": "u1", "anonymousId": "a1"})
    changes = [a for a in log(query, ws, "u1", "attribute_change") if "n" in a["data"]]
    assert len(changes) == 1 and attributes(query, ws, "u1")["n"] == "1"


def test_the_adopting_call_wins_a_tie_of_the_same_second(tx, query, workspace):
    ws = workspace.workspace_id
    anonymous_identify(tx, ws, "a1", {"plan": "free", "ref": "ad"}, NOW)
    anonymous_identify(tx, ws, "a1", {"ref": "mail"}, NOW)
    track_identify(tx, ws, "u1", {"plan": "pro", "anonymous_id": "a1"})
    shown = attributes(query, ws, "u1")
    assert (shown["plan"], shown["ref"]) == ("pro", "mail")
