"""`tidings apply` for message resources: transactional messages, snippets, sender
identities, layouts and providers.

Same shape as segments (`apply.py`): `parse_resources` validates the file's
sections (pure), `snapshot` reads what exists, `plan_resources` compares them
(pure; matched by trigger name, name, email or channel) and each `Step` carries
one change out in the caller's transaction. Resources the file does not name
are left alone.

    transactional_messages:
      - name: Password reset
        trigger_name: password_reset       # default: the name, lower-cased
        channel: email                     # email | push | sms | whatsapp | inbox | in_app
        contents:
          "": {from: "Acme <no-reply@acme.test>", subject: "Reset", body: "..."}
          fr: {subject: "Réinitialiser", body: "..."}
    snippets: [{name: footer, value: "..."}]
    sender_identities: [{email: no-reply@acme.test, name: Acme}]
    layouts: [{name: base, body: "<html>{{ content }}</html>"}]
    providers:
      - {channel: email, kind: smtp, config: {host: smtp.acme.test, port: 587}}
    subscription_topics:                   # subscriptions/topics.py
      - {id: 1, name: Newsletter, description: "...", subscribed_by_default: true}
    subscription_channels: [{channel: email, name: Email}]

A provider's `config` is checked by its adapter's own rules
(`channel_providers.parse`, the same as the web UI's), so a wrong key or value is refused when
the file is applied, not at the first send.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
from sqlalchemy import Connection, select

from tidings.db.schema import layouts as layouts_table
from tidings.db.schema import providers, sender_identities, transactional_contents
from tidings.db.schema import transactional_messages as messages_table
from tidings.errors import ApiError, bad_request
from tidings.subscriptions import topics as subscription_topics
from tidings.subscriptions.topics import Topic
from tidings.templates import definitions, layouts, senders, transactional_messages
from tidings.templates import snippets as snippet_store
from tidings.workspaces import channel_providers

SECTIONS = (
    "transactional_messages",
    "snippets",
    "sender_identities",
    "layouts",
    "providers",
    "subscription_topics",
    "subscription_channels",
)
Run = Callable[[Connection, int, int], "int | None"]  # (conn, workspace_id, now) -> new id


@dataclass(frozen=True)
class Resources:
    """What the file declares, keyed as matched."""

    messages: dict[str, definitions.Definition] = field(default_factory=dict)  # by trigger
    snippets: dict[str, str] = field(default_factory=dict)
    senders: dict[str, str] = field(default_factory=dict)  # email -> name
    layouts: dict[str, str] = field(default_factory=dict)
    providers: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    topics: dict[int, Topic] = field(default_factory=dict)
    channels: dict[str, Topic] = field(default_factory=dict)


@dataclass(frozen=True)
class Step:
    """One line of the plan for a resource."""

    action: str  # create | update | unchanged
    kind: str  # transactional message | snippet | ... | subscription topic | subscription channel
    name: str
    run: Run | None = None  # returns the id of what it created, if it has one
    fields: tuple[str, ...] = ()  # what an update changes

    def describe(self) -> str:
        line = f'{self.action} {self.kind} "{self.name}"'
        return f"{line}: {', '.join(self.fields)}" if self.fields else line


# --- parsing (pure) ------------------------------------------------------------


def parse_resources(document: dict[str, Any]) -> Resources:
    return Resources(
        messages=_keyed(document, "transactional_messages", _message),
        snippets=_keyed(document, "snippets", _snippet),
        senders=_keyed(document, "sender_identities", _sender),
        layouts=_keyed(document, "layouts", _layout),
        providers=_keyed(document, "providers", _provider),
        topics=_keyed(document, "subscription_topics", subscription_topics.parse_topic),
        channels=_keyed(document, "subscription_channels", subscription_topics.parse_channel),
    )


def _keyed(document: dict[str, Any], section: str, read: Callable[[Any], Any]) -> dict[Any, Any]:
    items = document.get(section)
    items = [] if items is None else items
    if not isinstance(items, list):
        raise bad_request(f"{section}: must be a list", section)
    found: dict[Any, Any] = {}
    for i, item in enumerate(items):
        path = f"{section}[{i}]"
        try:
            key, value = read(item)
        except ApiError as err:
            raise bad_request(f"{path}: {err.message}", f"{path}.{err.field}") from None
        if key in found:
            raise bad_request(f'{section}: "{key}" appears twice', section)
        found[key] = value
    return found


def _message(item: Any) -> tuple[str, definitions.Definition]:
    definition = definitions.parse_definition(item)
    return definition.trigger_name, definition


def _snippet(item: Any) -> tuple[str, str]:
    return snippet_store.parse(item)


def _sender(item: Any) -> tuple[str, str]:
    name, email = senders.parse(item)
    return email, name


def _layout(item: Any) -> tuple[str, str]:
    return layouts.parse(item)


def _provider(item: Any) -> tuple[str, tuple[str, dict[str, Any]]]:
    channel, kind, config = channel_providers.parse(item)
    return channel, (kind, config)


# --- what exists ----------------------------------------------------------------


def snapshot(conn: Connection, workspace_id: int) -> Resources:
    """The workspace's resources in the shape the file declares them."""
    return Resources(
        messages=_current_messages(conn, workspace_id),
        snippets=snippet_store.values(conn, workspace_id),
        senders=dict(
            _pairs(conn, sender_identities.c.email, sender_identities.c.name, workspace_id)
        ),
        layouts=dict(_pairs(conn, layouts_table.c.name, layouts_table.c.body, workspace_id)),
        providers={
            channel: (kind, msgspec.json.decode(config))
            for channel, kind, config in conn.execute(
                select(providers.c.channel, providers.c.kind, providers.c.config).where(
                    providers.c.workspace_id == workspace_id
                )
            )
        },
        topics={t.key: t for t in subscription_topics.topics(conn, workspace_id)},
        channels={t.key: t for t in subscription_topics.channels(conn, workspace_id)},
    )


def _pairs(conn: Connection, key: Any, value: Any, workspace_id: int) -> list[tuple[Any, Any]]:
    rows = conn.execute(select(key, value).where(key.table.c.workspace_id == workspace_id))
    return [(k, v) for k, v in rows]


def _current_messages(conn: Connection, workspace_id: int) -> dict[str, definitions.Definition]:
    contents: dict[int, list[tuple[str, dict[str, str]]]] = {}
    for message_id, language, fields in conn.execute(
        select(
            transactional_contents.c.message_id,
            transactional_contents.c.language,
            transactional_contents.c.fields,
        )
        .where(transactional_contents.c.workspace_id == workspace_id)
        .order_by(transactional_contents.c.language)
    ):
        contents.setdefault(message_id, []).append((language, msgspec.json.decode(fields)))
    found = {}
    for row in conn.execute(
        select(messages_table).where(messages_table.c.workspace_id == workspace_id)
    ):
        found[row.trigger_name] = definitions.Definition(
            name=row.name,
            trigger_name=row.trigger_name,
            channel=row.channel,
            description=row.description,
            send_to_unsubscribed=bool(row.send_to_unsubscribed),
            tracked=bool(row.tracked),
            subscription_topic_id=row.subscription_topic_id,
            contents=tuple(contents.get(row.id, [])),
        )
    return found


# --- the plan (pure) ----------------------------------------------------------


Differ = Callable[[Any, Any], tuple[str, ...]]  # (wanted, existing) -> changed fields


def plan_resources(want: Resources, have: Resources) -> list[Step]:
    sections: list[tuple[str, dict[Any, Any], dict[Any, Any], Callable[[Any, Any], Run], Differ]]
    sections = [
        ("transactional message", want.messages, have.messages, _put_message, _message_fields),
        ("snippet", want.snippets, have.snippets, _put_snippet, _whole("value")),
        ("sender identity", want.senders, have.senders, _put_sender, _whole("name")),
        ("layout", want.layouts, have.layouts, _put_layout, _whole("body")),
        ("provider", want.providers, have.providers, _put_provider, _provider_fields),
        ("subscription topic", want.topics, have.topics, _put_topic, _topic_fields),
        ("subscription channel", want.channels, have.channels, _put_channel, _topic_fields),
    ]
    steps: list[Step] = []
    for kind, wanted, had, put, differ in sections:
        for key, value in wanted.items():
            old = had.get(key)
            if old is None:
                steps.append(Step("create", kind, str(key), put(key, value)))
                continue
            fields = differ(value, old)
            action = "update" if fields else "unchanged"
            run = put(key, value) if fields else None
            steps.append(Step(action, kind, str(key), run, fields))
    return steps


def _whole(name: str) -> Differ:
    return lambda want, have: (name,) if want != have else ()


def _message_fields(want: definitions.Definition, have: definitions.Definition) -> tuple[str, ...]:
    plain = [f for f in want.__dataclass_fields__ if f != "contents"]
    fields = [f for f in plain if getattr(want, f) != getattr(have, f)]
    wanted, had = dict(want.contents), dict(have.contents)
    for language in sorted(set(wanted) | set(had)):
        if wanted.get(language) != had.get(language):
            fields.append(f"contents.{language or 'default'}")
    return tuple(fields)


def _topic_fields(want: Topic, have: Topic) -> tuple[str, ...]:
    names = ("name", "description", "subscribed_by_default")
    return tuple(n for n in names if getattr(want, n) != getattr(have, n))


def _provider_fields(
    want: tuple[str, dict[str, Any]], have: tuple[str, dict[str, Any]]
) -> tuple[str, ...]:
    fields = ["kind"] if want[0] != have[0] else []
    keys = sorted(set(want[1]) | set(have[1]))
    fields.extend(f"config.{k}" for k in keys if want[1].get(k) != have[1].get(k))
    return tuple(fields)


# --- carrying it out ----------------------------------------------------------


def _put_message(trigger: str, definition: definitions.Definition) -> Run:
    def run(conn: Connection, workspace_id: int, now: int) -> int | None:
        found = transactional_messages.by_trigger(conn, workspace_id, definition.trigger_name)
        if found is None:
            return int(transactional_messages.create(conn, workspace_id, definition, now)["id"])
        transactional_messages.replace(conn, workspace_id, found.id, definition, now)
        return None

    return run


def _put_snippet(name: str, value: str) -> Run:
    def run(conn: Connection, workspace_id: int, now: int) -> None:
        snippet_store.put(conn, workspace_id, name, value, now)

    return run


def _put_sender(email: str, name: str) -> Run:
    def run(conn: Connection, workspace_id: int, now: int) -> None:
        senders.upsert(conn, workspace_id, name, email, now)

    return run


def _put_layout(name: str, body: str) -> Run:
    def run(conn: Connection, workspace_id: int, now: int) -> None:
        layouts.put(conn, workspace_id, name, body, now)

    return run


def _put_provider(channel: str, setting: tuple[str, dict[str, Any]]) -> Run:
    kind, config = setting

    def run(conn: Connection, workspace_id: int, now: int) -> None:
        channel_providers.put(conn, workspace_id, channel, kind, config, now)

    return run


def _put_topic(key: int, declared: Topic) -> Run:
    def run(conn: Connection, workspace_id: int, now: int) -> None:
        subscription_topics.put_topic(conn, workspace_id, declared, now)

    return run


def _put_channel(key: str, declared: Topic) -> Run:
    def run(conn: Connection, workspace_id: int, now: int) -> None:
        subscription_topics.put_channel(conn, workspace_id, declared, now)

    return run
