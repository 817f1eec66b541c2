"""The official Python Track client (`customerio==3.2.0`, class `CustomerIO`) over TLS.

Every method is driven against the real server; effects are checked through
the App API, or the database where no App endpoint shows them.
"""

import math
from datetime import UTC, datetime

import pytest
from customerio import CustomerIO, CustomerIOException
from sqlalchemy import select

from tests.api.test_track_v1_operations import activities, customer
from tidings.db.schema import events, people


@pytest.fixture
def cio(api, server, monkeypatch):
    # requests prefers REQUESTS_CA_BUNDLE from the environment over session.verify.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", server.ca_path)
    creds = api.creds
    with CustomerIO(creds.site_id, creds.track_api_key, host=server.host, port=server.port) as c:
        yield c


def test_identify_with_an_awkward_id_datetimes_and_nan(cio, api):
    signed_up = datetime(2024, 1, 1, tzinfo=UTC)
    cio.identify("u 1/é", email="A@Example.com", created_at=signed_up, plan="pro", score=1.5)
    cio.identify("u 1/é", score=math.nan, plan="team")  # NaN is sent as null: removed
    shown = customer(api, "u 1/é")
    assert shown["identifiers"]["email"] == "A@Example.com"
    assert shown["attributes"]["created_at"] == "1704067200"
    assert shown["attributes"]["plan"] == "team"
    assert "score" not in shown["attributes"]
    assert customer(api, "a@example.com", "email")["id"] == "u 1/é"


def test_track_with_an_id_and_timestamp_is_stored_once(cio, api):
    when = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    for _ in range(2):  # a retry with the same id
        cio.track(
            "u1", "purchase", data={"price": 9.5}, id="01HZZZZZZZZZZZZZZZZZZZZZZZ", timestamp=when
        )
    [event] = activities(api, "u1")
    assert (event["name"], event["timestamp"], event["data"]) == (
        "purchase",
        1700000000,
        {"price": 9.5},
    )


def test_track_anonymous_then_identify(cio, api):
    cio.track_anonymous("anon-py", "viewed", data={"sku": "x"}, id="evt-anon-py")
    cio.identify("u1", anonymous_id="anon-py")
    assert [(a["name"], a["data"]) for a in activities(api, "u1")] == [("viewed", {"sku": "x"})]


def invites(conn, ws):
    query = select(events.c.anonymous_id, events.c.data).where(
        events.c.workspace_id == ws, events.c.name == "invite"
    )
    return [tuple(row) for row in conn.execute(query)]


def test_track_anonymous_without_an_id_is_an_invite(cio, api, query):
    cio.track_anonymous("", "invite", data={"recipient": "friend@example.com"})
    assert query(invites, api.creds.workspace_id) == [(None, '{"recipient":"friend@example.com"}')]


def test_pageview_and_backfill(cio, api):
    cio.pageview("u1", "/pricing", referrer="ad")
    cio.backfill("u1", "imported", 1600000000, source="csv")
    [page] = activities(api, "u1", type_="page")
    assert (page["name"], page["data"]) == ("/pricing", {"referrer": "ad"})
    [event] = activities(api, "u1")
    assert (event["name"], event["timestamp"], event["data"]) == (
        "imported",
        1600000000,
        {"source": "csv"},
    )


def test_delete_then_identify_again(cio, api):
    cio.identify("u1", plan="pro")
    old = customer(api, "u1")["identifiers"]["cio_id"]
    cio.delete("u1")
    assert api.attributes("u1").status_code == 404
    cio.identify("u1")
    again = customer(api, "u1")
    assert again["identifiers"]["cio_id"] != old
    assert "plan" not in again["attributes"]


def test_add_and_delete_devices(cio, api):
    cio.add_device("u1", "tok/1", "ios", last_used=1700000000, app_version="1.2")
    cio.add_device("u1", "tok2", "android")
    shown = {d["id"]: d for d in customer(api, "u1")["devices"]}
    assert shown["tok/1"] == {
        "id": "tok/1",
        "platform": "ios",
        "last_used": 1700000000,
        "attributes": {"app_version": "1.2"},
    }
    assert shown["tok2"]["platform"] == "android"
    cio.delete_device("u1", "tok/1")
    assert [d["id"] for d in customer(api, "u1")["devices"]] == ["tok2"]


def person_count(conn, ws):
    return len(conn.execute(select(people.c.id).where(people.c.workspace_id == ws)).all())


def test_suppress_and_unsuppress(cio, api, query):
    cio.identify("u1", email="a@example.com", plan="pro")
    cio.suppress("u1")
    cio.identify("u1", plan="again")
    cio.track("a@example.com", "ignored")
    assert query(person_count, api.creds.workspace_id) == 0
    cio.unsuppress("u1")
    cio.identify("u1", seats=1)
    shown = customer(api, "u1")
    assert "plan" not in shown["attributes"]
    assert shown["attributes"]["seats"] == "1"


def test_merge_customers(cio, api):
    cio.identify("keep", plan="gold")
    cio.identify("gone@example.com", plan="free", city="Oslo")
    cio.track("gone@example.com", "visited")
    cio.merge_customers("id", "keep", "email", "gone@example.com")
    shown = customer(api, "keep")
    assert (shown["attributes"]["plan"], shown["attributes"]["city"]) == ("gold", "Oslo")
    assert shown["identifiers"]["email"] == "gone@example.com"
    assert [a["name"] for a in activities(api, "keep")] == ["visited"]
    assert api.attributes("gone@example.com", "email").json()["customer"]["id"] == "keep"


def test_a_rejected_call_raises_with_the_servers_message(cio, api):
    # No `as excinfo`: holding the exception keeps the client's socket alive in a
    # reference cycle, and the test server then waits for it at shutdown.
    message = "^400: .*cannot identify more than 300 attributes in one request"
    with pytest.raises(CustomerIOException, match=message):
        cio.identify("u1", **{f"a{i}": i for i in range(301)})
    assert api.attributes("u1").status_code == 404


def test_wrong_credentials_raise_401(api, server, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", server.ca_path)
    cio = CustomerIO(api.creds.site_id, "wrong", host=server.host, port=server.port)
    with cio, pytest.raises(CustomerIOException, match="^401: .*unauthorized"):
        cio.identify("u1")
