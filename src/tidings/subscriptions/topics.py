"""Subscription topics and channels, declared per workspace with `tidings apply`.

    subscription_topics:
      - {id: 1, name: Newsletter, description: "Once a week", subscribed_by_default: true}
      - {id: 2, name: Offers}                 # opt-in: people are out until they opt in
    subscription_channels:
      - {channel: email, name: Email}

A topic is `topic_<id>` in a person's `cio_subscription_preferences.topics`; a
topic `subscribed_by_default` is opt-out (people are in it until they say
no), any other is opt-in. Ids are small positive numbers, as Customer.io
numbers them. A channel is `cio_subscription_preferences.channels.<channel>`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table, insert, select, update

from tidings.db.schema import subscription_channels, subscription_topics
from tidings.errors import bad_request

CHANNELS = ("email", "sms", "push", "in_app", "whatsapp", "slack", "line", "inbox")
MAX_TOPIC_ID = 10_000
MAX_NAME_CHARS = 255
MAX_DESCRIPTION_CHARS = 2_000


@dataclass(frozen=True)
class Topic:
    """A topic or a channel as declared; `key` is the topic's id or the channel's name."""

    key: Any  # int for a topic, str for a channel
    name: str
    description: str = ""
    subscribed_by_default: bool = False

    def json(self) -> dict[str, Any]:
        """The App API's shape (`GET /v1/subscription_topics`, `/subscription_channels`):
        a topic's `identifier` is its key in the preferences; a channel's `id` is its
        place in `CHANNELS` and its `type` Customer.io's name for the channel (SMS
        is `twilio`), beside its `channel` as the preferences name it."""
        described = {
            "name": self.name,
            "description": self.description,
            "subscribed_by_default": self.subscribed_by_default,
        }
        if isinstance(self.key, int):
            return {"id": self.key, "identifier": f"topic_{self.key}", **described}
        kind = "twilio" if self.key == "sms" else self.key
        return {"id": CHANNELS.index(self.key) + 1, "type": kind, "channel": self.key, **described}


# --- parsing (pure) ------------------------------------------------------------


def parse_topic(item: Any) -> tuple[int, Topic]:
    """`{id, name, description?, subscribed_by_default?}` -> (id, topic)."""
    body = _mapping(item, ("id", "name", "description", "subscribed_by_default"))
    topic_id = body.get("id")
    if type(topic_id) is not int or not 1 <= topic_id <= MAX_TOPIC_ID:
        raise bad_request(f"id must be a whole number from 1 to {MAX_TOPIC_ID}", "id")
    return topic_id, _described(topic_id, body)


def parse_channel(item: Any) -> tuple[str, Topic]:
    """`{channel, name?, description?, subscribed_by_default?}` -> (channel, channel)."""
    body = _mapping(item, ("channel", "name", "description", "subscribed_by_default"))
    channel = body.get("channel")
    if channel not in CHANNELS:
        raise bad_request(f"channel must be one of: {', '.join(CHANNELS)}", "channel")
    named = {"name": channel.replace("_", "-").capitalize(), "subscribed_by_default": True}
    return channel, _described(channel, {**named, **body})


def _mapping(item: Any, keys: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise bad_request("must be a mapping")
    for key in item:
        if key not in keys:
            raise bad_request(f"unknown property {key!r}", str(key))
    return item


def _described(key: Any, body: dict[str, Any]) -> Topic:
    name, description = body.get("name"), body.get("description", "")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_CHARS:
        raise bad_request(f"name must be a string of 1 to {MAX_NAME_CHARS} characters", "name")
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION_CHARS:
        raise bad_request(
            f"description must be a string of at most {MAX_DESCRIPTION_CHARS} characters",
            "description",
        )
    default = body.get("subscribed_by_default", False)
    if not isinstance(default, bool):
        raise bad_request("subscribed_by_default must be true or false", "subscribed_by_default")
    return Topic(key, name.strip(), description, default)


# --- the store ---------------------------------------------------------------------


def topics(conn: Connection, workspace_id: int) -> list[Topic]:
    """The workspace's topics, by id."""
    return _read(conn, subscription_topics, subscription_topics.c.topic_id, workspace_id)


def channels(conn: Connection, workspace_id: int) -> list[Topic]:
    """The workspace's channels, by name."""
    return _read(conn, subscription_channels, subscription_channels.c.channel, workspace_id)


def topic(conn: Connection, workspace_id: int, topic_id: int) -> Topic | None:
    c = subscription_topics.c
    row = conn.execute(
        select(c.topic_id, c.name, c.description, c.subscribed_by_default).where(
            c.workspace_id == workspace_id, c.topic_id == topic_id
        )
    ).first()
    return None if row is None else Topic(row[0], row[1], row[2], bool(row[3]))


def _read(conn: Connection, table: Table, key: Any, workspace_id: int) -> list[Topic]:
    c = table.c
    rows = conn.execute(
        select(key, c.name, c.description, c.subscribed_by_default)
        .where(c.workspace_id == workspace_id)
        .order_by(key)
    )
    return [Topic(row[0], row[1], row[2], bool(row[3])) for row in rows]


def put_topic(conn: Connection, workspace_id: int, declared: Topic, now: int) -> None:
    """Create or replace a topic."""
    _put(conn, subscription_topics, "topic_id", workspace_id, declared, now)


def put_channel(conn: Connection, workspace_id: int, declared: Topic, now: int) -> None:
    """Create or replace a channel."""
    _put(conn, subscription_channels, "channel", workspace_id, declared, now)


def _put(
    conn: Connection, table: Table, key: str, workspace_id: int, declared: Topic, now: int
) -> None:
    values = {
        "name": declared.name,
        "description": declared.description,
        "subscribed_by_default": int(declared.subscribed_by_default),
        "updated_at": now,
    }
    where = (table.c.workspace_id == workspace_id, table.c[key] == declared.key)
    if not conn.execute(update(table).where(*where).values(**values)).rowcount:
        conn.execute(
            insert(table).values(workspace_id=workspace_id, **{key: declared.key}, **values)
        )
