"""Transactional messages: templates sends name by id or trigger name.

A message has a numeric id, a trigger name (unique per workspace, matched
case-insensitively, stored lower-cased), one channel, defaults for sends
(`send_to_unsubscribed`, `tracked`) and one content per language; `""` is the
default language, used when a send's language has no content of its own.

`resolve` and `content_fields` are what the send pipeline uses; the rest
serves the App API (Customer.io's reads, our `POST`/`DELETE` extensions) and
`tidings apply`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import Connection, delete, func, insert, select, update

from tidings.db import raw
from tidings.db.schema import deliveries
from tidings.db.schema import transactional_contents as contents
from tidings.db.schema import transactional_messages as messages
from tidings.errors import ApiError, bad_request, not_found
from tidings.templates import checks, design_studio, senders, version
from tidings.templates.definitions import (
    DESIGN_STUDIO_FIELD,
    Definition,
    parse_fields,
    parse_language,
)

_encode = msgspec.json.Encoder().encode


@dataclass(frozen=True)
class Template:
    id: int
    workspace_id: int
    name: str
    trigger_name: str
    channel: str
    description: str
    send_to_unsubscribed: bool
    tracked: bool
    created_at: int
    updated_at: int
    subscription_topic_id: int | None = None


# --- the send pipeline's lookups -----------------------------------------------


def resolve(
    conn: Connection,
    workspace_id: int,
    ref: int | str,
    channel: str,
    *,
    auto_create: bool,
    now: int,
) -> Template:
    """The template a send names: an id, a numeric string, or a trigger name.

    Unknown is a 400; with `auto_create` an unknown trigger name becomes an empty
    template of the send's channel. A template of another channel is a 400.
    """
    template = find_ref(conn, workspace_id, ref)
    if template is None and auto_create and not names_id(ref) and str(ref).strip():
        definition = Definition(name=str(ref), trigger_name=str(ref).lower(), channel=channel)
        template = find(conn, workspace_id, create(conn, workspace_id, definition, now)["id"])
    return checked(template, ref, channel)


def names_id(ref: int | str) -> bool:
    """Whether a send's `ref` is a template id (else a trigger name)."""
    return isinstance(ref, int) or (ref.isascii() and ref.isdigit() and len(ref) <= 10)


def find_ref(conn: Connection, workspace_id: int, ref: int | str) -> Template | None:
    """The template `ref` names (an id, a numeric string, or a trigger name), if any."""
    if names_id(ref):
        return find(conn, workspace_id, int(ref))
    return by_trigger(conn, workspace_id, str(ref))


def checked(template: Template | None, ref: int | str, channel: str) -> Template:
    """The template a send named, found and of the send's channel; else a 400."""
    if template is None:
        raise bad_request(
            f"no transactional message {ref!r} in this workspace", "transactional_message_id"
        )
    if template.channel != channel:
        raise bad_request(
            f"transactional message {ref!r} is a {template.channel} message, not {channel}",
            "transactional_message_id",
        )
    return template


_CONTENTS = (
    "SELECT id, language, fields FROM transactional_contents"
    " WHERE message_id = {0} AND language IN ({1})"
)


# What a language's content takes from the default's.
INHERITED = ("from", "layout", DESIGN_STUDIO_FIELD)


def content_fields(
    conn: Connection, template: Template, language: str | None
) -> tuple[int | None, dict[str, str]]:
    """(content id, fields) for `language`, or the default language's.

    A language's content inherits the default's `from` and `layout` unless it
    sets its own (a translation rarely changes the sender or the frame).
    """
    wanted = [""] if not language else [language.lower(), ""]
    rows = raw.select_in(conn, _CONTENTS, [template.id], wanted)
    return pick_content(contents_by_language(rows), language)


Contents = dict[str, tuple[int, dict[str, str]]]  # language: (content id, fields)


def contents_by_language(rows: list[tuple[Any, ...]]) -> Contents:
    """Rows of (id, language, fields JSON) by language."""
    return {row_lang: (cid, msgspec.json.decode(fields)) for cid, row_lang, fields in rows}


def pick_content(found: Contents, language: str | None) -> tuple[int | None, dict[str, str]]:
    """`content_fields` of the contents read (at least `language`'s and the default's)."""
    wanted = [""] if not language else [language.lower(), ""]
    default = found.get("", (None, {}))[1]
    inherited = {name: default[name] for name in INHERITED if name in default}
    for lang in wanted:
        if lang in found:
            content_id, fields = found[lang]
            return content_id, {**inherited, **fields}
    return None, {}


# --- storage -------------------------------------------------------------------


# `Template`'s fields, in order.
_TEMPLATE_COLUMNS = [
    "id",
    "workspace_id",
    "name",
    "trigger_name",
    "channel",
    "description",
    "send_to_unsubscribed",
    "tracked",
    "created_at",
    "updated_at",
    "subscription_topic_id",
]
# On the driver: every transactional send looks its template up.
_MESSAGE = (
    f"SELECT {', '.join(_TEMPLATE_COLUMNS)}"
    " FROM transactional_messages WHERE workspace_id = {0} AND %s = {1}"
)


def find(conn: Connection, workspace_id: int, message_id: int) -> Template | None:
    rows = raw.select_in(conn, _MESSAGE % "id", [workspace_id, message_id], [])
    return _template(rows[0]) if rows else None


def by_trigger(conn: Connection, workspace_id: int, trigger_name: str) -> Template | None:
    key = trigger_name.strip().lower()
    rows = raw.select_in(conn, _MESSAGE % "trigger_name", [workspace_id, key], [])
    return _template(rows[0]) if rows else None


def _template(row: Any) -> Template:
    (id_, workspace_id, name, trigger_name, channel, description, *rest) = row
    send_to_unsubscribed, tracked, created_at, updated_at, topic_id = rest
    return Template(
        id=id_,
        workspace_id=workspace_id,
        name=name,
        trigger_name=trigger_name,
        channel=channel,
        description=description,
        send_to_unsubscribed=bool(send_to_unsubscribed),
        tracked=bool(tracked),
        created_at=created_at,
        updated_at=updated_at,
        subscription_topic_id=topic_id,
    )


def create(conn: Connection, workspace_id: int, definition: Definition, now: int) -> dict[str, Any]:
    if by_trigger(conn, workspace_id, definition.trigger_name) is not None:
        raise ApiError(
            409,
            f"a transactional message with trigger_name {definition.trigger_name!r} exists",
            code="conflict",
            field="trigger_name",
        )
    _check_designs(conn, workspace_id, definition)
    version.bump(conn, workspace_id)
    message_id = conn.execute(
        insert(messages).values(
            workspace_id=workspace_id, created_at=now, updated_at=now, **_columns(definition)
        )
    ).inserted_primary_key[0]
    for language, fields in definition.contents:
        put_content(conn, workspace_id, message_id, language, fields, now)
    return get(conn, workspace_id, message_id)


def add(conn: Connection, workspace_id: int, definition: Definition, now: int) -> int:
    """`create`, answering the new message's id (what the web UI's audit entry names)."""
    return int(create(conn, workspace_id, definition, now)["id"])


def replace(
    conn: Connection, workspace_id: int, message_id: int, definition: Definition, now: int
) -> None:
    """Make message `message_id` exactly `definition` (contents of other languages go)."""
    _check_designs(conn, workspace_id, definition)
    version.bump(conn, workspace_id)
    conn.execute(
        update(messages)
        .where(messages.c.id == message_id)
        .values(updated_at=now, **_columns(definition))
    )
    languages = [language for language, _ in definition.contents]
    conn.execute(
        delete(contents).where(
            contents.c.message_id == message_id, contents.c.language.not_in(languages)
        )
    )
    for language, fields in definition.contents:
        put_content(conn, workspace_id, message_id, language, fields, now)


def _check_designs(conn: Connection, workspace_id: int, definition: Definition) -> None:
    """Every Design Studio email the contents name is one of the workspace's."""
    for _, fields in definition.contents:
        design_studio.check_named(conn, workspace_id, fields)


def _columns(definition: Definition) -> dict[str, Any]:
    return {
        "name": definition.name,
        "trigger_name": definition.trigger_name,
        "channel": definition.channel,
        "description": definition.description,
        "send_to_unsubscribed": int(definition.send_to_unsubscribed),
        "tracked": int(definition.tracked),
        "subscription_topic_id": definition.subscription_topic_id,
    }


def put_content(
    conn: Connection,
    workspace_id: int,
    message_id: int,
    language: str,
    fields: dict[str, str],
    now: int,
) -> int:
    """Set the fields of one language's content (created if missing); its id."""
    version.bump(conn, workspace_id)
    text = _encode(fields).decode()
    where = (contents.c.message_id == message_id, contents.c.language == language)
    found = conn.execute(select(contents.c.id, contents.c.fields).where(*where)).first()
    if found is None:
        return int(
            conn.execute(
                insert(contents).values(
                    workspace_id=workspace_id,
                    message_id=message_id,
                    language=language,
                    fields=text,
                    created_at=now,
                    updated_at=now,
                )
            ).inserted_primary_key[0]
        )
    if found.fields != text:
        conn.execute(update(contents).where(*where).values(fields=text, updated_at=now))
    return int(found.id)


def _check_sender(conn: Connection, workspace_id: int, fields: dict[str, str]) -> None:
    """A content's literal `from` must be a sender identity, as a send checks it."""
    address = checks.literal_sender(fields)
    if address is not None and senders.sender_name_for(conn, workspace_id, address) is None:
        raise checks.unknown_sender(address)


def remove(conn: Connection, workspace_id: int, message_id: int) -> None:
    if find(conn, workspace_id, message_id) is None:
        raise not_found("transactional message not found")
    version.bump(conn, workspace_id)
    conn.execute(delete(contents).where(contents.c.message_id == message_id))
    conn.execute(delete(messages).where(messages.c.id == message_id))


def remove_unsent(conn: Connection, workspace_id: int, message_id: int) -> str:
    """`remove` (the web UI's delete), refused with a 409 when any delivery names the
    message, sent or queued: deliveries keep the message's id, and their pages, the
    message's metrics and reporting webhooks read it, so its history would point at
    nothing. The removed message's name."""
    found = find(conn, workspace_id, message_id)
    if found is None:
        raise not_found("transactional message not found")
    named = select(deliveries.c.id).where(
        deliveries.c.workspace_id == workspace_id,
        deliveries.c.transactional_message_id == message_id,
    )
    if conn.execute(named.limit(1)).first() is not None:
        raise ApiError(
            409,
            f"message {message_id} has deliveries, and deleting it would leave their "
            "history pointing at nothing; nothing was deleted",
            code="conflict",
        )
    remove(conn, workspace_id, message_id)
    return found.name


def count(conn: Connection, workspace_id: int) -> int:
    return int(
        conn.execute(
            select(func.count())
            .select_from(messages)
            .where(messages.c.workspace_id == workspace_id)
        ).scalar_one()
    )


# --- what the App API shows ----------------------------------------------------


def message_json(template: Template) -> dict[str, Any]:
    return {
        "id": template.id,
        "name": template.name,
        "trigger_name": template.trigger_name,
        "type": template.channel,
        "description": template.description,
        "send_to_unsubscribed": template.send_to_unsubscribed,
        "subscription_topic_id": template.subscription_topic_id,
        "link_tracking": template.tracked,
        "open_tracking": template.tracked,
        "hide_message_body": False,
        "queue_drafts": False,
        "created_at": template.created_at,
        "updated_at": template.updated_at,
    }


def list_all(conn: Connection, workspace_id: int) -> list[dict[str, Any]]:
    columns = [messages.c[name] for name in _TEMPLATE_COLUMNS]
    rows = conn.execute(
        select(*columns).where(messages.c.workspace_id == workspace_id).order_by(messages.c.id)
    )
    return [message_json(_template(row)) for row in rows]


def get(conn: Connection, workspace_id: int, message_id: int) -> dict[str, Any]:
    return message_json(_existing(conn, workspace_id, message_id))


def _existing(conn: Connection, workspace_id: int, message_id: int) -> Template:
    template = find(conn, workspace_id, message_id)
    if template is None:
        raise not_found("transactional message not found")
    return template


def content_json(template: Template, row: Any) -> dict[str, Any]:
    return {
        **msgspec.json.decode(row.fields),
        "id": row.id,
        "message_id": template.id,
        "language": row.language,
        "type": template.channel,
        "name": template.name,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def contents_of(conn: Connection, workspace_id: int, message_id: int) -> list[dict[str, Any]]:
    template = _existing(conn, workspace_id, message_id)
    rows = conn.execute(
        select(contents).where(contents.c.message_id == message_id).order_by(contents.c.id)
    )
    return [content_json(template, row) for row in rows]


def language_content(
    conn: Connection, workspace_id: int, message_id: int, language: str
) -> dict[str, Any]:
    template = _existing(conn, workspace_id, message_id)
    row = conn.execute(
        select(contents).where(
            contents.c.message_id == message_id, contents.c.language == parse_language(language)
        )
    ).first()
    if row is None:
        raise not_found("no content in this language")
    return content_json(template, row)


def update_content(
    conn: Connection,
    workspace_id: int,
    message_id: int,
    content_ref: tuple[str, Any],
    body: Any,
    now: int,
) -> dict[str, Any]:
    """Merge `body`'s fields into one content, named by ("id", n) or ("language", code).

    A field given as null is unset; a language without content gets one.
    """
    template = _existing(conn, workspace_id, message_id)
    kind, key = content_ref
    column = contents.c.id if kind == "id" else contents.c.language
    row = conn.execute(
        select(contents).where(contents.c.message_id == message_id, column == key)
    ).first()
    if row is None and kind == "id":
        raise not_found("transactional message content not found")
    fields = parse_fields(body, template.channel, designed=True)
    design_studio.check_named(conn, workspace_id, fields)
    merged = {**(msgspec.json.decode(row.fields) if row is not None else {}), **fields}
    for unset in [k for k, v in (body or {}).items() if v is None and k in merged]:
        del merged[unset]
    if template.channel == "email":
        _check_sender(conn, workspace_id, merged)
    language = row.language if row is not None else str(key)
    content_id = put_content(conn, workspace_id, message_id, language, merged, now)
    conn.execute(update(messages).where(messages.c.id == message_id).values(updated_at=now))
    row = conn.execute(select(contents).where(contents.c.id == content_id)).one()
    return content_json(template, row)
