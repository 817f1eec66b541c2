"""A person's choices among the workspace's topics and channels.

The choices live in the person's `cio_subscription_preferences` attribute
(`{"topics": {"topic_<id>": bool}, "channels": {"<channel>": bool}}`), the
same one Track, Pipelines and the App API write, so every way in agrees.
`subscribed` is the rule (pure): a globally unsubscribed person is in no
topic; otherwise the person's own choice for the topic, else the topic's
default (in for a `subscribed_by_default` topic, out for an opt-in one).
A topic no one declared counts as opt-out: a message naming it reaches
everyone who did not say no to it.

Changes go through `people.service.apply_attributes`, the normal write path,
so the activity log records them and `customer_cio_subscription_preferences_changed`
is posted to the reporting webhooks that want it (`reporting/customer_events.py`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from tidings.attributes import is_truthy_flag
from tidings.people import service as people
from tidings.people import store
from tidings.people.store import Person
from tidings.subscriptions.topics import Topic

ATTRIBUTE = "cio_subscription_preferences"


def topic_key(topic_id: int) -> str:
    return f"topic_{topic_id}"


def subscribed(stored: Any, topic: Topic, unsubscribed: bool) -> bool:
    """Whether a person with preferences `stored` (the attribute's JSON value, or None)
    is in `topic` (a topic or a channel)."""
    if unsubscribed:
        return False
    section = "topics" if isinstance(topic.key, int) else "channels"
    key = topic_key(topic.key) if section == "topics" else topic.key
    choice = _section(stored, section).get(key)
    return choice if isinstance(choice, bool) else topic.subscribed_by_default


def with_choices(stored: Any, topics: dict[int, bool]) -> dict[str, Any]:
    """`stored` with the given topics set; everything else in it kept."""
    merged = dict(stored) if isinstance(stored, dict) else {}
    merged["topics"] = {
        **_section(stored, "topics"),
        **{topic_key(k): v for k, v in topics.items()},
    }
    return merged


def _section(stored: Any, name: str) -> dict[str, Any]:
    found = stored.get(name) if isinstance(stored, dict) else None
    return dict(found) if isinstance(found, dict) else {}


# --- reading and writing -----------------------------------------------------------


def of_person(conn: Connection, person: Person) -> tuple[Any, bool]:
    """(the person's stored preferences or None, globally unsubscribed)."""
    found = store.load_attributes(conn, person.pk)
    stored = found.get(ATTRIBUTE)
    flag = found.get("unsubscribed")
    preferences = store.restore_value(stored) if stored is not None else None
    return preferences, flag is not None and is_truthy_flag(store.restore_value(flag))


def choose(
    conn: Connection,
    person: Person,
    topics: dict[int, bool],
    now: int,
    *,
    unsubscribed: bool | None = None,
) -> None:
    """Set the person's choice for each topic (the rest of their preferences kept) and,
    unless None, their global `unsubscribed`: one change, logged once."""
    stored, was_unsubscribed = of_person(conn, person)
    merged = with_choices(stored, topics)
    changes: dict[str, Any] = {ATTRIBUTE: merged} if merged != stored else {}
    if unsubscribed is not None and unsubscribed != was_unsubscribed:
        changes["unsubscribed"] = unsubscribed
    if changes:
        people.apply_attributes(conn, person, changes, now, now)
