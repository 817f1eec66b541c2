"""The rules the Track ingest paths share, one function each, tested without a database.

`events.track` is a run of one of `events.bulk.track_many`, and
`people.service.find_or_create` writes a new person with the rows
`people.bulk.create_many` writes; these are the pieces both use.
"""

import msgspec
import pytest

from tidings.activity.log import EVENT_COLUMNS
from tidings.events import bulk as bulk_events
from tidings.events import dedup
from tidings.events.service import parse_event
from tidings.people import bulk as bulk_people
from tidings.people import store
from tidings.people.identifiers import CLIENT_KINDS, KINDS, Identifier

NOW = 1_700_000_000


@pytest.mark.parametrize(
    ("dedup_id", "key"), [(None, None), ("", None), ("e-1", "event:e-1"), ("0", "event:0")]
)
def test_an_event_id_is_its_dedup_key_and_no_id_is_none(dedup_id, key):
    assert dedup.event_key(dedup_id) == key


@pytest.mark.parametrize(
    ("timestamp", "expected"), [(None, NOW), (0, 0), (1_600_000_000, 1_600_000_000)]
)
def test_an_event_without_a_timestamp_happened_when_received(timestamp, expected):
    assert bulk_events.occurred(timestamp, NOW) == expected


def test_received_stamps_only_an_event_without_a_timestamp():
    stamped = parse_event({"name": "e"}).received(NOW)
    assert stamped.timestamp == NOW
    given = parse_event({"name": "e", "timestamp": 5})
    assert given.received(NOW) is given


def test_plain_keeps_what_the_event_and_identifier_say():
    event = parse_event({"name": "buy", "type": "page", "data": {"a": 1}, "id": 7})
    plain = bulk_events.plain(Identifier("email", "A@X.io"), event)
    assert plain == ("email", "A@X.io", "buy", "page", '{"a":1}', None, "7")


def test_only_ids_and_emails_create_people_and_can_be_suppressed():
    assert CLIENT_KINDS == ("id", "email")
    assert set(KINDS) - set(CLIENT_KINDS) == {"cio_id"}


def test_each_identifier_kind_has_its_people_column():
    assert {kind: column.name for kind, column in store.COLUMNS.items()} == {
        "id": "customer_id",
        "email": "email",
        "cio_id": "cio_id",
    }


def test_a_new_person_row_lower_cases_the_email_and_draws_a_cio_id():
    row = store.person_row(3, NOW, "U1", "Ann@Example.COM")
    assert row["email"] == "ann@example.com"
    assert row["customer_id"] == "U1"  # ids are case-sensitive
    assert len(row["cio_id"]) == 12 and int(row["cio_id"], 16) >= 0
    assert (row["workspace_id"], row["created_at"], row["updated_at"]) == (3, NOW, NOW)
    assert store.person_row(3, NOW, "U1", None)["cio_id"] != row["cio_id"]


def test_a_new_person_row_keeps_a_cio_id_chosen_ahead_and_no_email():
    row = store.person_row(3, NOW, "U1", "", "abc123")
    assert (row["cio_id"], row["email"]) == ("abc123", None)


@pytest.mark.parametrize(
    ("ident", "customer_id", "email"),
    [
        (Identifier("id", "U1"), "U1", None),
        (Identifier("email", "Ann@X.io"), None, "ann@x.io"),
    ],
)
def test_a_person_first_named_has_just_that_identifier(ident, customer_id, email):
    row = bulk_people.new_person_row(3, ident, NOW, "chosen")
    assert (row["customer_id"], row["email"], row["cio_id"]) == (customer_id, email, "chosen")


def test_a_first_mention_keeps_the_identifier_as_given_as_an_attribute():
    row = bulk_people.attribute_row(3, 9, Identifier("email", "Ann@X.io"), NOW)
    assert row == {
        "person_id": 9,
        "workspace_id": 3,
        "name": "email",
        "value": "Ann@X.io",
        "kind": "s",
        "updated_at": NOW,
    }


def test_a_first_mention_logs_the_attribute_change():
    row = bulk_people.change_row(3, 9, Identifier("id", "u1"), NOW)
    shown = dict(zip(EVENT_COLUMNS, row, strict=True))
    data = msgspec.json.decode(shown.pop("data"))
    assert data == {"attributes": {"id": {"from": None, "to": "u1"}}}
    assert shown == {
        "workspace_id": 3,
        "person_id": 9,
        "anonymous_id": None,
        "type": "attribute_change",
        "name": "",
        "timestamp": NOW,
        "received_at": NOW,
    }
