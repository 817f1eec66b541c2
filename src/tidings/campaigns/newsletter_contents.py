"""A newsletter's contents: its languages, its A/B test groups, and who gets which.

A newsletter has one message action (`newsletters.py`); every variant of it
is one `action_contents` row with its own id, the `content_id` Customer.io
shows: test group 0 is the newsletter's own content, groups 1 to 7 its A/B
test groups (`POST .../test_groups`), and each group has a default content
(language `""`) and any number of languages. A new test group starts as a
copy of the newsletter's default content, and a new language as a copy of
its group's default content with the given fields on top (as an action's
new language does, `store.put_content`).

`choose` picks a person's variant when their message is queued: the test
group by a stable hash of the newsletter and the person (so the audience is
split evenly, and a message queued again picks the same), then the
person's `language` attribute, exact match, else the group's default.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec
from sqlalchemy import Connection, delete, insert, select, update

from tidings.campaigns import newsletter_references as references
from tidings.campaigns import newsletter_requests as asks
from tidings.campaigns import store
from tidings.db.schema import action_contents, campaign_actions
from tidings.errors import bad_request, not_found

# Our field name -> the name a content shows, per action type (Customer.io's).
SHOWN_NAMES = {
    "email": {"preheader": "preheader_text"},
    "push": {"title": "subject", "message": "body"},
    "webhook": {"method": "request_method"},
}
MAX_LANGUAGE = 16
_C = action_contents.c
_encode = msgspec.json.Encoder(order="sorted").encode
_decode = msgspec.json.decode


# --- reading ---------------------------------------------------------------------------


def message_action(conn: Connection, newsletter_id: int) -> Any:
    """The newsletter's one message action."""
    return conn.execute(
        select(campaign_actions).where(campaign_actions.c.campaign_id == newsletter_id)
    ).one()


def rows_of(conn: Connection, action_id: int) -> list[Any]:
    """Every content of the action, by test group and language."""
    query = select(action_contents).where(_C.action_id == action_id)
    return list(conn.execute(query.order_by(_C.test_group, _C.language)))


def groups_of(rows: list[Any]) -> list[int]:
    return sorted({row.test_group for row in rows})


def shown(
    newsletter_id: int,
    action_type: str,
    row: Any,
    groups: list[int],
    lookups: dict[str, references.Lookup],
) -> dict[str, Any]:
    """A content as Customer.io shows it (`contentObject`), plus its `test_group_id`; an
    email's `from_id`, `reply_to_id` and `layout_id` beside what they stand for (read
    through `lookups`)."""
    names: dict[str, str] = SHOWN_NAMES.get(action_type, {})
    fields: dict[str, Any] = dict(_decode(row.fields))
    if action_type == "email":
        ids = dict.fromkeys(references.REFERENCES)
        fields = {**ids, **references.resolved(fields, lookups, strict=False)}
    if action_type == "webhook":
        fields["method"] = fields.get("method", "post").upper()
        fields["headers"] = _decode(fields["headers"]) if fields.get("headers") else {}
    variant = f"Variant {chr(65 + groups.index(row.test_group))}" if len(groups) > 1 else None
    return {
        "id": row.id,
        "newsletter_id": newsletter_id,
        "deduplicate_id": f"{row.id}:{row.updated_at}",
        "name": variant,
        "type": asks.API_TYPES[action_type],
        "language": row.language,
        "test_group_id": row.test_group,
        **{names.get(name) or name: value for name, value in fields.items()},
    }


def list_contents(conn: Connection, workspace_id: int, newsletter_id: int) -> dict[str, Any]:
    store.row_of(conn, workspace_id, newsletter_id, "newsletter")
    action = message_action(conn, newsletter_id)
    rows = rows_of(conn, action.id)
    groups = groups_of(rows)
    lookups = references.lookups(conn, workspace_id)
    return {"contents": [shown(newsletter_id, action.type, row, groups, lookups) for row in rows]}


def get_content(
    conn: Connection, workspace_id: int, newsletter_id: int, content_id: int
) -> dict[str, Any]:
    action, row, groups = _content(conn, workspace_id, newsletter_id, content_id)
    lookups = references.lookups(conn, workspace_id)
    return {"content": shown(newsletter_id, action.type, row, groups, lookups)}


def get_language(
    conn: Connection, workspace_id: int, newsletter_id: int, group: int, language: str
) -> dict[str, Any]:
    action, row, groups = _language(conn, workspace_id, newsletter_id, group, language)
    lookups = references.lookups(conn, workspace_id)
    return {"content": shown(newsletter_id, action.type, row, groups, lookups)}


def _content(
    conn: Connection, workspace_id: int, newsletter_id: int, content_id: int
) -> tuple[Any, Any, list[int]]:
    store.row_of(conn, workspace_id, newsletter_id, "newsletter")
    action = message_action(conn, newsletter_id)
    rows = rows_of(conn, action.id)
    found = next((row for row in rows if row.id == content_id), None)
    if found is None:
        raise not_found("content not found")
    return action, found, groups_of(rows)


def _language(
    conn: Connection, workspace_id: int, newsletter_id: int, group: int, language: str
) -> tuple[Any, Any, list[int]]:
    store.row_of(conn, workspace_id, newsletter_id, "newsletter")
    action = message_action(conn, newsletter_id)
    rows = rows_of(conn, action.id)
    if group not in groups_of(rows):
        raise not_found("test group not found")
    code = parse_language(language, allow_default=True)
    found = next((r for r in rows if r.test_group == group and r.language == code), None)
    if found is None:
        raise not_found("language not found")
    return action, found, groups_of(rows)


def parse_language(value: Any, allow_default: bool = False) -> str:
    if not isinstance(value, str) or len(value) > MAX_LANGUAGE or not (value or allow_default):
        raise bad_request(f"language must be a code of 1 to {MAX_LANGUAGE} characters", "language")
    return value.lower()


# --- writing ---------------------------------------------------------------------------


def update_content(
    conn: Connection,
    workspace_id: int,
    newsletter_id: int,
    content_id: int,
    body: Any,
    now: int,
) -> dict[str, Any]:
    """Merge fields into one content (`PUT .../contents/{id}`)."""
    action, row, _ = _content(conn, workspace_id, newsletter_id, content_id)
    _merge(conn, newsletter_id, row, asks.parse_content(action.type, body), now)
    return get_content(conn, workspace_id, newsletter_id, content_id)


def update_language(
    conn: Connection,
    workspace_id: int,
    newsletter_id: int,
    group: int,
    language: str,
    body: Any,
    now: int,
) -> dict[str, Any]:
    action, row, _ = _language(conn, workspace_id, newsletter_id, group, language)
    _merge(conn, newsletter_id, row, asks.parse_content(action.type, body), now)
    return get_content(conn, workspace_id, newsletter_id, row.id)


def add_language(
    conn: Connection, workspace_id: int, newsletter_id: int, group: int, body: Any, now: int
) -> dict[str, Any]:
    """A new language of a test group (0: the newsletter's own content), from the group's
    default content and the body's fields; `body["language"]` names it."""
    if not isinstance(body, dict):
        raise bad_request("request body must be a JSON object")
    code = parse_language(body.get("language"))
    store.row_of(conn, workspace_id, newsletter_id, "newsletter")
    action = message_action(conn, newsletter_id)
    if action.type == "webhook":
        raise bad_request("webhook newsletters have no languages", "language")
    rows = rows_of(conn, action.id)
    if group not in groups_of(rows):
        raise not_found("test group not found")
    if any(r.test_group == group and r.language == code for r in rows):
        raise bad_request(f"the language {code!r} exists already: update it", "language")
    base = next(r for r in rows if r.test_group == group and r.language == "")
    given = asks.parse_content(action.type, body)
    fields = references.merge(conn, workspace_id, _decode(base.fields), given)
    content_id = _insert(conn, workspace_id, action.id, group, code, fields, now)
    store.update_row(conn, newsletter_id, now)
    return get_content(conn, workspace_id, newsletter_id, content_id)


def delete_language(
    conn: Connection, workspace_id: int, newsletter_id: int, group: int, language: str, now: int
) -> None:
    _, row, _ = _language(conn, workspace_id, newsletter_id, group, language)
    if row.language == "":
        raise bad_request("the default content cannot be deleted", "language")
    conn.execute(delete(action_contents).where(_C.id == row.id))
    store.update_row(conn, newsletter_id, now)


def add_test_group(conn: Connection, workspace_id: int, newsletter_id: int, now: int) -> int:
    """A new test group, its default content a copy of the newsletter's; its id."""
    newsletter = store.row_of(conn, workspace_id, newsletter_id, "newsletter")
    if newsletter.first_started is not None:
        raise bad_request("the newsletter was sent: its test groups cannot change")
    action = message_action(conn, newsletter_id)
    rows = rows_of(conn, action.id)
    groups = groups_of(rows)
    if len(groups) > asks.MAX_TEST_GROUPS:
        raise bad_request(f"a newsletter has at most {asks.MAX_TEST_GROUPS + 1} variations")
    base = next(r for r in rows if r.test_group == 0 and r.language == "")
    group = max(groups) + 1
    _insert(conn, workspace_id, action.id, group, "", _decode(base.fields), now)
    store.update_row(conn, newsletter_id, now)
    return group


def _merge(conn: Connection, newsletter_id: int, row: Any, given: dict[str, Any], now: int) -> None:
    merged = references.merge(conn, row.workspace_id, _decode(row.fields), given)
    conn.execute(
        update(action_contents)
        .where(_C.id == row.id)
        .values(fields=_encode(merged).decode(), updated_at=now)
    )
    store.update_row(conn, newsletter_id, now)


def _insert(
    conn: Connection,
    workspace_id: int,
    action_id: int,
    group: int,
    language: str,
    fields: dict[str, Any],
    now: int,
) -> int:
    inserted = conn.execute(
        insert(action_contents).values(
            workspace_id=workspace_id,
            action_id=action_id,
            test_group=group,
            language=language,
            fields=_encode(fields).decode(),
            created_at=now,
            updated_at=now,
        )
    )
    return int(inserted.inserted_primary_key[0])


# --- who gets which ----------------------------------------------------------------------


def choose(
    conn: Connection,
    newsletter_id: int,
    action_id: int,
    person_pk: int | None,
    language: str,
    group: int | None = None,
) -> int | None:
    """The content id a person gets: their test group's content in their language, else
    the group's default. The group is `group` when given (an A/B test's winner, sent to
    the people held back), else the person's by `split`."""
    rows = conn.execute(
        select(_C.id, _C.test_group, _C.language).where(_C.action_id == action_id)
    ).all()
    if not rows:
        return None
    groups = sorted({row.test_group for row in rows})
    if group is None or group not in groups:
        group = groups[split(newsletter_id, person_pk, len(groups))]
    by_key = {(row.test_group, row.language): row.id for row in rows}
    return by_key.get((group, language)) or by_key.get((group, "")) or by_key.get((0, ""))


def split(newsletter_id: int, person_pk: int | None, variations: int) -> int:
    """A person's variation, 0 to `variations - 1`: a stable hash, even over people."""
    digest = hashlib.sha256(f"newsletter:{newsletter_id}:{person_pk}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % variations


def content_ids(conn: Connection, action_id: int) -> list[int]:
    query = select(_C.id).where(_C.action_id == action_id).order_by(_C.id)
    return [int(found) for found in conn.execute(query).scalars()]
