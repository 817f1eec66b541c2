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
    stored, unsubscribed = preferences.of_person(conn, person)

    def each(declared: list[Topic]) -> list[tuple[Topic, bool]]:
        return [(t, preferences.subscribed(stored, t, False)) for t in declared]

    return State(
        each(topics.topics(conn, person.workspace_id)),
        each(topics.channels(conn, person.workspace_id)),
        unsubscribed,
    )


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
    found = state(conn, person)
    if not found.topics and not found.channels:
        return {}
    value = {
        "topics": {preferences.topic_key(t.key): on for t, on in found.topics},
        "channels": {t.key: on for t, on in found.channels},
    }
    return {COMPUTED: msgspec.json.encode(value).decode()}
