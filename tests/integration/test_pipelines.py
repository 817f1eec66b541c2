"""Pipelines messages applied on a real database: identify, events, group, alias, dedup.

Messages are parsed as the HTTP layer parses them and applied with
`pipelines.ingest.ingest` (one write job, as one request); effects are read
back through what the App API shows.
"""

import msgspec
import pytest
from sqlalchemy import select

from tidings import paging
from tidings.db.schema import events, objects, people
from tidings.errors import ApiError
from tidings.people import activities, read
from tidings.pipelines import ingest, parse, rejections, service

NOW = 1_700_000_000
DAY = 24 * 3600


def send(tx, ws, *raws, now=NOW, strict=False):
    """Apply messages (each with its `type`) as one request; the refusals' reasons."""
    items = [parse.parse_message(dict(raw), now) for raw in raws]
    return tx(ingest.ingest, ws, items, now, strict)


def attributes(query, ws, ident, id_type="id"):
    return query(read.attributes_of, ws, ident, id_type)["customer"]["attributes"]


def shown(query, ws, ident, id_type="id"):
    return query(read.attributes_of, ws, ident, id_type)["customer"]


def log(query, ws, ident, type_=""):
    """The person's activities, oldest first."""
    request = activities.ActivityQuery(paging.PageRequest(100), type=type_)
    found = query(activities.activities_of, ws, ident, "id", request)["activities"]
    return list(reversed(found))


def exists(query, ws, ident, id_type="id"):
    try:
        query(read.attributes_of, ws, ident, id_type)
    except ApiError:
        return False
    return True


def relations(query, ws, ident):
    found = query(read.relationships_of, ws, ident, "id", paging.PageRequest(100))
    return [
        (
            r["identifiers"]["object_type_id"],
            r["identifiers"]["object_id"],
            r["relationship_attributes"],
        )
        for r in found["cio_relationships"]
    ]


def anonymous_rows(query, ws, anonymous_id):
    def fetch(conn):
        rows = conn.execute(
            select(events.c.type, events.c.name, events.c.person_id)
            .where(events.c.workspace_id == ws, events.c.anonymous_id == anonymous_id)
            .order_by(events.c.id)
        )
        return [tuple(row) for row in rows]

    return query(fetch)


def test_identify_traits_become_attributes_rendered_as_track_does(tx, query, workspace):
    ws = workspace.workspace_id
    traits = {"email": "A@Example.com", "plan": "pro", "n": 3, "ok": True, "tags": ["a"]}
    send(tx, ws, {"type": "identify", "userId": "u1", "traits": traits})
    shown_attrs = attributes(query, ws, "u1")
    assert shown_attrs["plan"] == "pro"
    assert (shown_attrs["n"], shown_attrs["ok"], shown_attrs["tags"]) == ("3", "true", '["a"]')
    assert shown(query, ws, "a@example.com", "email")["id"] == "u1"
    send(tx, ws, {"type": "identify", "userId": "u1", "traits": {"plan": None}})
    assert "plan" not in attributes(query, ws, "u1")


def test_identify_is_logged_with_the_whole_message(tx, query, workspace):
    ws = workspace.workspace_id
    message = {
        "type": "identify",
        "userId": "u1",
        "traits": {"plan": "pro"},
        "messageId": "m-1",
        "context": {"ip": "10.0.0.1"},
        "integrations": {"All": True},
        "timestamp": "2023-11-14T23:13:20+01:00",
        "sentAt": "2023-11-14T22:13:21Z",
        "futureKey": [1, 2],
        "writeKey": "secret",
    }
    send(tx, ws, message)
    [logged] = log(query, ws, "u1", "identify")
    assert logged["timestamp"] == NOW
    cdp = logged["data"]["_cdp"]
    assert logged["data"]["traits"] == {"plan": "pro"}
    assert cdp["context"] == {"ip": "10.0.0.1"} and cdp["futureKey"] == [1, 2]
    assert cdp["messageId"] == "m-1" and cdp["integrations"] == {"All": True}
    assert cdp["receivedAt"] == "2023-11-14T22:13:20Z"
    assert "writeKey" not in cdp


@pytest.mark.parametrize(
    "kind, shown_type", [("track", "event"), ("page", "page"), ("screen", "screen")]
)
def test_events_keep_properties_and_envelope(tx, query, workspace, kind, shown_type):
    ws = workspace.workspace_id
    message = {
        "type": kind,
        "userId": "u1",
        "event": "Signed Up",
        "name": "Home",
        "category": "nav",
        "properties": {"price": 9.5, "url": "https://x.test/"},
        "timestamp": "2023-11-14T22:13:20.633+00:00",
        "context": {"library": {"name": "analytics-python"}},
    }
    send(tx, ws, message)
    [logged] = log(query, ws, "u1", shown_type)
    assert logged["name"] == ("Signed Up" if kind == "track" else "Home")
    assert logged["timestamp"] == NOW
    assert logged["data"]["price"] == 9.5
    cdp = logged["data"]["_cdp"]
    assert cdp["context"] == {"library": {"name": "analytics-python"}}
    assert cdp["userId"] == "u1"
    assert ("category" in cdp) is True
    assert "properties" not in cdp and "type" not in cdp


def test_a_page_without_a_name_is_named_by_its_url(tx, query, workspace):
    ws = workspace.workspace_id
    send(tx, ws, {"type": "page", "userId": "u1", "properties": {"url": "https://x.test/a"}})
    [logged] = log(query, ws, "u1", "page")
    assert logged["name"] == logged["url"] == "https://x.test/a"


def test_clock_skew_is_corrected_without_a_timestamp(tx, query, workspace):
    ws = workspace.workspace_id
    message = {
        "type": "track",
        "userId": "u1",
        "event": "e",
        "originalTimestamp": "2023-11-14T22:13:00Z",  # the device's clock
        "sentAt": "2023-11-14T22:13:10Z",  # 10 s later by the same clock
    }
    send(tx, ws, message, now=NOW + 100)
    [logged] = log(query, ws, "u1", "event")
    assert logged["timestamp"] == NOW + 90


def test_anonymous_events_wait_for_identify_with_both_ids(tx, query, workspace):
    ws = workspace.workspace_id
    send(
        tx,
        ws,
        {"type": "track", "anonymousId": "anon-1", "event": "viewed"},
        {"type": "page", "anonymousId": "anon-1", "name": "Pricing"},
        {"type": "identify", "anonymousId": "anon-1", "traits": {"plan": "free", "ref": "ad"}},
    )
    assert anonymous_rows(query, ws, "anon-1") == [
        ("event", "viewed", None),
        ("page", "Pricing", None),
        ("identify", "", None),
    ]
    send(
        tx,
        ws,
        {"type": "identify", "userId": "u1", "anonymousId": "anon-1", "traits": {"plan": "pro"}},
        now=NOW + 5,
    )
    shown_attrs = attributes(query, ws, "u1")
    assert (shown_attrs["plan"], shown_attrs["ref"]) == ("pro", "ad")  # newer traits win
    assert shown_attrs["anonymous_id"] == "anon-1"
    names = [
        (a["type"], a["name"]) for a in log(query, ws, "u1") if a["type"] != "attribute_change"
    ]
    assert ("event", "viewed") in names and ("page", "Pricing") in names
    assert [a["type"] for a in log(query, ws, "u1", "identify")] == ["identify", "identify"]


def test_pending_traits_older_than_stored_values_do_not_win(tx, query, workspace):
    ws = workspace.workspace_id
    send(
        tx,
        ws,
        {
            "type": "identify",
            "anonymousId": "a1",
            "traits": {"plan": "free"},
            "timestamp": NOW - 50,
        },
    )
    send(tx, ws, {"type": "identify", "userId": "u1", "traits": {"plan": "pro"}})
    send(tx, ws, {"type": "alias", "userId": "u1", "previousId": "a1"}, now=NOW + 10)
    assert attributes(query, ws, "u1")["plan"] == "pro"
    assert attributes(query, ws, "u1")["anonymous_id"] == "a1"


def test_events_of_an_identified_anonymous_id_go_to_the_person_at_once(tx, query, workspace):
    ws = workspace.workspace_id
    send(tx, ws, {"type": "identify", "userId": "u1", "anonymousId": "anon-2"})
    send(tx, ws, {"type": "track", "anonymousId": "anon-2", "event": "later"})
    assert [a["name"] for a in log(query, ws, "u1", "event")] == ["later"]
    send(tx, ws, {"type": "identify", "anonymousId": "anon-2", "traits": {"seen": 1}})
    assert attributes(query, ws, "u1")["seen"] == "1"


def test_an_anonymous_identify_with_an_email_names_the_person(tx, query, workspace):
    ws = workspace.workspace_id
    send(tx, ws, {"type": "track", "anonymousId": "anon-3", "event": "browsed"})
    send(tx, ws, {"type": "identify", "anonymousId": "anon-3", "traits": {"email": "b@x.test"}})
    person = shown(query, ws, "b@x.test", "email")
    assert person["attributes"]["anonymous_id"] == "anon-3"
    # Later the user id arrives with the same anonymous id: one person, not two.
    send(tx, ws, {"type": "identify", "userId": "u3", "anonymousId": "anon-3"})
    merged = shown(query, ws, "u3")
    assert merged["identifiers"]["email"] == "b@x.test"
    assert [a["name"] for a in log(query, ws, "u3", "event")] == ["browsed"]


def test_an_anonymous_id_held_by_another_user_is_not_taken(tx, query, workspace):
    ws = workspace.workspace_id
    send(tx, ws, {"type": "identify", "userId": "u1", "anonymousId": "shared"})
    send(tx, ws, {"type": "identify", "userId": "u2", "anonymousId": "shared"})
    assert attributes(query, ws, "u1")["anonymous_id"] == "shared"
    assert "anonymous_id" not in attributes(query, ws, "u2")


def test_group_upserts_an_object_and_relates_the_person(tx, query, workspace):
    ws = workspace.workspace_id
    traits = {"name": "Acme", "seats": 5, "relationshipAttributes": {"role": "admin"}}
    send(tx, ws, {"type": "group", "userId": "u1", "groupId": "acme", "traits": traits})
    send(
        tx,
        ws,
        {"type": "group", "userId": "u1", "groupId": "c-9", "traits": {"object_type_id": "2"}},
    )
    assert relations(query, ws, "u1") == [("1", "acme", {"role": "admin"}), ("2", "c-9", {})]

    def attrs_of(conn):
        row = conn.execute(
            select(objects.c.attributes).where(
                objects.c.workspace_id == ws, objects.c.object_id == "acme"
            )
        ).one()
        return msgspec.json.decode(row.attributes)

    assert query(attrs_of) == {"name": "Acme", "seats": "5"}
    assert [a["name"] for a in log(query, ws, "u1", "group")] == ["acme", "c-9"]


def test_an_anonymous_group_relationship_passes_to_the_person(tx, query, workspace):
    ws = workspace.workspace_id
    send(
        tx,
        ws,
        {
            "type": "group",
            "anonymousId": "anon-g",
            "groupId": "acme",
            "traits": {"relationshipAttributes": {"r": 1}},
        },
    )
    send(tx, ws, {"type": "identify", "userId": "u1", "anonymousId": "anon-g"})
    assert relations(query, ws, "u1") == [("1", "acme", {"r": "1"})]


def test_alias_merges_an_old_user_id_into_the_new_one(tx, query, workspace):
    ws = workspace.workspace_id
    send(
        tx,
        ws,
        {"type": "identify", "userId": "old", "traits": {"email": "o@x.test", "plan": "free"}},
        {"type": "track", "userId": "old", "event": "bought"},
        {"type": "identify", "userId": "new", "traits": {"plan": "pro"}},
        {"type": "alias", "userId": "new", "previousId": "old"},
    )
    assert not exists(query, ws, "old")
    merged = shown(query, ws, "new")
    assert merged["attributes"]["plan"] == "pro"  # the survivor keeps its own values
    assert merged["identifiers"]["email"] == "o@x.test"  # and gains what it lacked
    assert [a["name"] for a in log(query, ws, "new", "event")] == ["bought"]
    assert len(log(query, ws, "new", "alias")) == 1


def test_alias_claims_an_anonymous_id(tx, query, workspace):
    ws = workspace.workspace_id
    send(tx, ws, {"type": "screen", "anonymousId": "dev-1", "name": "Onboarding"})
    send(tx, ws, {"type": "alias", "userId": "u9", "previousId": "dev-1"})
    assert [a["name"] for a in log(query, ws, "u9", "screen")] == ["Onboarding"]
    assert attributes(query, ws, "u9")["anonymous_id"] == "dev-1"


def test_a_message_id_is_applied_once(tx, query, workspace, other_workspace):
    ws = workspace.workspace_id
    event = {"type": "track", "userId": "u1", "event": "e", "messageId": "dup-1"}
    page = {"type": "page", "userId": "u1", "name": "p", "messageId": "dup-2"}
    ident = {"type": "identify", "userId": "u1", "traits": {"n": 1}, "messageId": "dup-3"}
    send(tx, ws, event, event, page, ident)  # repeats inside one request
    send(tx, ws, event, page, ident, now=NOW + DAY)  # a retry a day later
    send(tx, ws, {**ident, "traits": {"n": 2}})  # same messageId, other content: still a repeat
    assert [a["type"] for a in log(query, ws, "u1") if a["type"] != "attribute_change"] == [
        "event",
        "page",
        "identify",
    ]
    assert attributes(query, ws, "u1")["n"] == "1"
    other = other_workspace.workspace_id  # dedup is per workspace
    send(tx, other, event)
    assert len(log(query, other, "u1", "event")) == 1


def test_a_batch_applies_in_order(tx, query, workspace):
    ws = workspace.workspace_id
    send(
        tx,
        ws,
        {"type": "track", "userId": "u1", "event": "first"},
        {
            "type": "track",
            "event": "Device Created or Updated",
            "userId": "u1",
            "context": {"device": {"token": "t1", "type": "ios"}},
        },
        {"type": "track", "userId": "u1", "event": "second"},
        {"type": "track", "event": "User Deleted", "userId": "u1"},
        {"type": "track", "userId": "u1", "event": "third"},
    )
    # The person was deleted after "second"; "third" created them afresh.
    assert [a["name"] for a in log(query, ws, "u1", "event")] == ["third"]
    assert shown(query, ws, "u1")["devices"] == []


def test_a_refused_message_is_recorded_and_its_neighbours_apply(tx, query, workspace):
    ws = workspace.workspace_id
    big = {f"k{i}": "x" * 900 for i in range(120)}  # over 100 KB of object attributes, in total
    group = {"type": "group", "userId": "u1", "groupId": "g", "traits": {"name": "G"}}
    send(tx, ws, group)
    items = [
        parse.parse_message({"type": "track", "userId": "u1", "event": "before"}, NOW),
        *(
            parse.parse_message(
                {
                    "type": "group",
                    "userId": "u1",
                    "groupId": "g",
                    "traits": dict(list(big.items())[i : i + 30]),
                },
                NOW,
            )
            for i in range(0, 120, 30)
        ),
        parse.parse_message({"type": "track", "userId": "u1", "event": "after"}, NOW),
    ]
    assert tx(ingest.ingest, ws, items, NOW, False) == ["invalid_request"]
    assert [a["name"] for a in log(query, ws, "u1", "event")] == ["before", "after"]
    listed = query(rejections.recent, ws, paging.PageRequest(10))["rejections"]
    assert [(r["type"], r["reason"]) for r in listed] == [("group", "invalid_request")]
    with pytest.raises(ApiError):
        tx(ingest.ingest, ws, items, NOW, True)


def test_rejections_are_listed_newest_first_and_paged(tx, query, workspace, other_workspace):
    ws = workspace.workspace_id
    bad = [
        rejections.rejected(ApiError(400, f"bad {i}"), {"type": "track", "n": i}) for i in range(3)
    ]
    for i, item in enumerate(bad):
        tx(ingest.ingest, ws, [item], NOW + i, False)
    first = query(rejections.recent, ws, paging.PageRequest(2))
    assert [r["message"] for r in first["rejections"]] == ["bad 2", "bad 1"]
    after = paging.decode_cursor(first["next"], 2)
    rest = query(rejections.recent, ws, paging.PageRequest(2, after))
    assert [r["message"] for r in rest["rejections"]] == ["bad 0"] and rest["next"] == ""
    assert rest["rejections"][0]["snippet"] == '{"type":"track","n":0}'
    assert query(rejections.recent, other_workspace.workspace_id, paging.PageRequest(2)) == {
        "rejections": [],
        "next": "",
    }


def test_the_bulk_path_stores_what_one_by_one_does(tx, query, workspace, other_workspace):
    raws = [
        {"type": "identify", "userId": "known", "anonymousId": "a-known"},
        {"type": "track", "userId": "u1", "event": "e1", "messageId": "x1"},
        {"type": "page", "userId": "u1", "name": "p", "messageId": "x1"},  # a repeat
        {"type": "screen", "anonymousId": "a-new", "name": "s"},
        {"type": "track", "anonymousId": "a-known", "event": "e2"},
        {"type": "track", "userId": "u2", "anonymousId": "a-new", "event": "e3"},
    ]
    messages = [parse.parse_message(raw, NOW) for raw in raws]
    bulk_ws, single_ws = workspace.workspace_id, other_workspace.workspace_id
    tx(ingest.ingest, bulk_ws, messages, NOW, False)  # events after the identify: one run
    for msg in messages:
        tx(service.apply, single_ws, msg, NOW)

    def stored(conn, ws):
        rows = conn.execute(
            select(
                people.c.customer_id,
                events.c.anonymous_id,
                events.c.type,
                events.c.name,
                events.c.timestamp,
                events.c.received_at,
                events.c.data,
            )
            .select_from(events.outerjoin(people, people.c.id == events.c.person_id))
            .where(events.c.workspace_id == ws)
            .order_by(events.c.id)
        )
        return [tuple(row) for row in rows]

    # The bulk path creates a run's new people before inserting its events:
    # the same rows, in another id order.
    assert sorted(query(stored, bulk_ws), key=repr) == sorted(query(stored, single_ws), key=repr)
    assert (
        len([row for row in query(stored, bulk_ws) if row[2] in ("event", "page", "screen")]) == 4
    )


def test_queued_requests_store_what_one_request_after_another_does(
    tx, query, workspace, other_workspace
):
    """`ingest_queued` (the requests sharing a commit) against `ingest` per request."""
    requests = [
        [
            {"type": "track", "userId": "u1", "event": "e1", "messageId": "m1"},
            {"type": "page", "anonymousId": "a1", "name": "p", "messageId": "m2"},
        ],
        [
            {"type": "track", "userId": "u1", "event": "e2", "messageId": "m1"},  # a repeat
            {"type": "screen", "userId": "u2", "name": "s"},
        ],
    ]
    parsed = [[parse.parse_message(raw, NOW) for raw in raws] for raws in requests]
    refused = rejections.rejected(ApiError(400, "nope", code="invalid_request"), {"type": "x"})
    parsed[1].append(refused)
    queued_ws, single_ws = workspace.workspace_id, other_workspace.workspace_id
    assert all(ingest.only_plain_events(items) for items in parsed)
    tx(ingest.ingest_queued, [(queued_ws, ingest.plain_items(items), NOW) for items in parsed])
    for items in parsed:
        tx(ingest.ingest, single_ws, items, NOW, False)

    def stored(conn, ws):
        rows = conn.execute(
            select(people.c.customer_id, events.c.anonymous_id, events.c.name, events.c.data)
            .select_from(events.outerjoin(people, people.c.id == events.c.person_id))
            .where(events.c.workspace_id == ws)
        )
        return sorted((tuple(row) for row in rows), key=repr)

    assert query(stored, queued_ws) == query(stored, single_ws)
    assert [row[2] for row in query(stored, queued_ws)].count("e2") == 0
    page = paging.PageRequest(10)
    assert len(query(rejections.recent, queued_ws, page)["rejections"]) == 1


def test_only_plain_events_are_queued():
    track = parse.parse_message({"type": "track", "userId": "u", "event": "e"}, NOW)
    identify = parse.parse_message({"type": "identify", "userId": "u"}, NOW)
    deleted = parse.parse_message({"type": "track", "userId": "u", "event": "User Deleted"}, NOW)
    assert ingest.only_plain_events([track])
    assert not ingest.only_plain_events([track, identify])
    assert not ingest.only_plain_events([deleted])
