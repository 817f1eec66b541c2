"""What a person's subscription center shows: every declared topic and channel with
whether the person is in it (`GET /v1/customers/{id}/subscription_preferences`,
and the hosted page, `reporting/preference_center.py`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import Connection

from tidings.people import read
from tidings.people.store import Person
from tidings.subscriptions import preferences, topics
from tidings.subscriptions.topics import Topic

# The attribute Customer.io computes from a person's choices and the declared topics.
COMPUTED = "_cio_subscription_preferences_computed"


@dataclass(frozen=True)
class State:
    """The person's own choice (or the default) for each topic and channel, and their
    global flag, shown apart: a globally unsubscribed person keeps their choices
    for when they come back, though no topic reaches them meanwhile."""

    topics: list[tuple[Topic, bool]]
    channels: list[tuple[Topic, bool]]
    unsubscribed: bool


def state(conn: Connection, person: Person) -> State:
    declared = topics.topics(conn, person.workspace_id)
    return _state(conn, person, declared, topics.channels(conn, person.workspace_id))


def _state(conn: Connection, person: Person, declared: list[Topic], channels: list[Topic]) -> State:
    stored, unsubscribed = preferences.of_person(conn, person)

    def each(found: list[Topic]) -> list[tuple[Topic, bool]]:
        return [(t, preferences.subscribed(stored, t, False)) for t in found]

    return State(each(declared), each(channels), unsubscribed)


def preferences_of(conn: Connection, workspace_id: int, raw: str, id_type: str) -> dict[str, Any]:
    """`GET /v1/customers/{id}/subscription_preferences`. Topic names are as declared
    (no translations are kept, so `language` changes nothing)."""
    person = read.lookup(conn, workspace_id, raw, id_type)
    found = state(conn, person)
    return {
        "customer": {
            "id": person.customer_id,
            "identifiers": read.identifiers(person, read.shown_email(conn, person)),
            "unsubscribed": found.unsubscribed,
            "topics": [{**t.json(), "subscribed": on} for t, on in found.topics],
            "channels": [{**t.json(), "subscribed": on} for t, on in found.channels],
        }
    }


def computed(conn: Connection, person: Person) -> dict[str, str]:
    """`_cio_subscription_preferences_computed`, for the customer attributes (`read.Computed`):
    the person's choice or the default for every declared topic and channel, as JSON
    text; nothing when the workspace declares none."""
    declared = topics.topics(conn, person.workspace_id)
    channels = topics.channels(conn, person.workspace_id)
    if not declared and not channels:  # the person's choices are not read
        return {}
    found = _state(conn, person, declared, channels)
    value = {
        "topics": {preferences.topic_key(t.key): on for t, on in found.topics},
        "channels": {t.key: on for t, on in found.channels},
    }
    return {COMPUTED: msgspec.json.encode(value).decode()}
