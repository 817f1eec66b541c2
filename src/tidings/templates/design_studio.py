"""Design Studio (`/v1/design_studio/...`, App API): folders, emails and components.

Each workspace has one tree of nodes with UUID ids: folders hold emails,
components and other folders. An email has `content` (subject, preheader,
html, amp, text), an `envelope` and `transformers`, and translations per
language whose blocks override the default language's (omitted blocks are
inherited). A component is a named, tagged piece of HTML.

A Design Studio email is usable as the content of a transactional message
and of a campaign, broadcast or newsletter email action: a content whose
`design_studio_email_id` is set renders that email's subject, preheader, HTML
and text (in the message's language, when it has a translation) with the same
Liquid engine (`email_fields`, read at send time by `sending/rendering.py`);
`check_named` refuses a content naming an email the workspace lacks.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import Connection, Select, delete, func, insert, select, update

from tidings import numbers, paging
from tidings.db import trees
from tidings.db.schema import action_contents, campaign_actions
from tidings.db.schema import design_email_languages as languages
from tidings.db.schema import design_nodes as nodes
from tidings.db.schema import transactional_contents as contents
from tidings.errors import ApiError, bad_request, not_found
from tidings.templates.definitions import DESIGN_STUDIO_FIELD

MAX_NAME_CHARS = 255
MAX_LANGUAGE_CHARS = 35
MAX_HTML_CHARS = 1_000_000
LIMIT_DEFAULT = 1000
LIMIT_MAX = 10_000
CONTENT_KEYS = ("subject", "preheader_text", "html", "amp", "text")
ENVELOPE_KEYS = {
    "from_id": int,
    "reply_to_id": int,
    "recipient": str,
    "bcc": str,
    "fake_bcc": bool,
    "cc": str,
    "headers": list,
}
SORTS = {"created": nodes.c.created_at, "updated": nodes.c.updated_at, "name": nodes.c.name}
FILTERS = ("true", "false", "any")
LIST_QUERY = (
    "parent_folder_id",
    "direct_descendants_only",
    "sort_by",
    "sort_order",
    "created_before",
    "created_after",
    "updated_before",
    "updated_after",
    "page",
    "limit",
)
EMAIL_QUERY = (*LIST_QUERY, "is_template", "has_translations", "is_linked")
COMPONENT_QUERY = (*LIST_QUERY, "tag")

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.decode
_ABSENT = object()


@dataclass(frozen=True)
class Listing:
    """A parsed list query (Design Studio lists are page-based)."""

    parent: str | None = None
    direct_only: bool = False
    sort: str = "created"
    descending: bool = False
    created: tuple[int | None, int | None] = (None, None)  # (after, before)
    updated: tuple[int | None, int | None] = (None, None)
    page: int = 1
    limit: int = LIMIT_DEFAULT
    is_template: bool | None = None
    has_translations: bool | None = None
    is_linked: bool | None = None
    tag: str | None = None


# --- parsing (pure) ----------------------------------------------------------


def parse_listing(query: dict[str, str]) -> Listing:
    """The list endpoints' query; a bad value is a 400 naming the parameter."""
    sort = query.get("sort_by", "created")
    if sort not in SORTS:
        raise bad_request("sort_by must be one of created, updated, name", "sort_by")
    order = query.get("sort_order", "asc")
    if order not in ("asc", "desc"):
        raise bad_request("sort_order must be asc or desc", "sort_order")
    return Listing(
        parent=query.get("parent_folder_id") or None,
        direct_only=_flag(query, "direct_descendants_only"),
        sort=sort,
        descending=order == "desc",
        created=(_time(query, "created_after"), _time(query, "created_before")),
        updated=(_time(query, "updated_after"), _time(query, "updated_before")),
        page=numbers.query_int(query, "page", 1, 1, 1_000_000),
        limit=numbers.query_int(query, "limit", LIMIT_DEFAULT, 1, LIMIT_MAX),
        is_template=_tristate(query, "is_template"),
        has_translations=_tristate(query, "has_translations"),
        is_linked=_tristate(query, "is_linked"),
        tag=query.get("tag") or None,
    )


def _flag(query: dict[str, str], name: str) -> bool:
    raw = query.get(name, "false")
    if raw not in ("true", "false"):
        raise bad_request(f"{name} must be true or false", name)
    return raw == "true"


def _tristate(query: dict[str, str], name: str) -> bool | None:
    raw = query.get(name, "any")
    if raw not in FILTERS:
        raise bad_request(f"{name} must be true, false or any", name)
    return None if raw == "any" else raw == "true"


def _time(query: dict[str, str], name: str) -> int | None:
    raw = query.get(name)
    if raw is None:
        return None
    if not numbers.is_digits(raw) or len(raw) > 12:
        raise bad_request(f"{name} must be a Unix timestamp in seconds", name)
    return int(raw)


def parse_name(body: dict[str, Any], *, required: bool) -> str | None:
    name = body.get("name")
    if name is None:
        if required:
            raise bad_request("name is required", "name")
        return None
    if not isinstance(name, str) or not name.strip():
        raise bad_request("name must be a non-empty string", "name")
    if len(name) > MAX_NAME_CHARS:
        raise bad_request(f"name cannot be longer than {MAX_NAME_CHARS} characters", "name")
    return name


def parse_parent(body: dict[str, Any]) -> Any:
    """`parent_folder_id`: absent (keep), null (the root), or a folder's UUID."""
    if "parent_folder_id" not in body:
        return _ABSENT
    parent = body["parent_folder_id"]
    if parent is not None and not isinstance(parent, str):
        raise bad_request(
            "parent_folder_id must be a folder id (a UUID) or null", "parent_folder_id"
        )
    return parent or None


def parse_email_body(body: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """An email's (or translation's) `content`, `envelope` and `transformers`,
    merged over `current`: blocks and keys not sent are kept."""
    merged = {key: dict(current.get(key) or {}) for key in ("content", "envelope", "transformers")}
    content = _object(body, "content")
    for key, value in content.items():
        if key not in CONTENT_KEYS:
            raise bad_request(f"content.{key} is not a content field", f"content.{key}")
        if value is not None and not isinstance(value, str):
            raise bad_request(f"content.{key} must be a string", f"content.{key}")
        if value is not None and len(value) > MAX_HTML_CHARS:
            raise bad_request(f"content.{key} is longer than {MAX_HTML_CHARS} characters")
        merged["content"][key] = value
    for key, value in _object(body, "envelope").items():
        kind = ENVELOPE_KEYS.get(key)
        if kind is None:
            raise bad_request(f"envelope.{key} is not an envelope field", f"envelope.{key}")
        wrong = isinstance(value, bool) and kind is not bool
        if value is not None and (wrong or not isinstance(value, kind)):
            raise bad_request(f"envelope.{key} must be a {kind.__name__}", f"envelope.{key}")
        merged["envelope"][key] = value
    merged["transformers"].update(_object(body, "transformers"))
    return merged


def _object(body: dict[str, Any], key: str) -> dict[str, Any]:
    value = body.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise bad_request(f"{key} must be an object", key)
    return value


def parse_language(raw: Any) -> str:
    if not isinstance(raw, str) or not raw.strip() or len(raw) > MAX_LANGUAGE_CHARS:
        raise bad_request(
            f"language must be a language tag of at most {MAX_LANGUAGE_CHARS} characters",
            "language",
        )
    return raw


def parse_tag(raw: Any) -> str:
    if not isinstance(raw, str) or not raw.strip() or len(raw) > MAX_NAME_CHARS:
        raise bad_request(f"tag must be a non-empty string of at most {MAX_NAME_CHARS}", "tag")
    return raw


def _html(raw: Any) -> str:
    if not isinstance(raw, str) or len(raw) > MAX_HTML_CHARS:
        raise bad_request(f"content must be HTML text of at most {MAX_HTML_CHARS} characters")
    return raw


# --- use cases (never commit) ------------------------------------------------


def create(
    conn: Connection, workspace_id: int, kind: str, body: dict[str, Any], now: int
) -> dict[str, Any]:
    """A new folder, email or component from its create body."""
    name = parse_name(body, required=True)
    parent = parse_parent(body)
    parent = None if parent is _ABSENT else parent
    _check_folder(conn, workspace_id, parent)
    values: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "workspace_id": workspace_id,
        "kind": kind,
        "name": name,
        "parent_folder_id": parent,
        "created_at": now,
        "updated_at": now,
    }
    if kind == "email":
        values["is_template"] = _is_template(body.get("is_template", False))
        values["body"] = _encode(parse_email_body(body, {})).decode()
    elif kind == "component":
        if body.get("tag") is None:
            raise bad_request("tag is required", "tag")
        values["tag"] = parse_tag(body["tag"])
        _check_tag_free(conn, workspace_id, values["tag"], None)
        values["body"] = _encode(_html(body.get("content") or "")).decode()
    else:
        values["body"] = "{}"
    conn.execute(insert(nodes).values(values))
    return get(conn, workspace_id, kind, values["id"])


def change(
    conn: Connection, workspace_id: int, kind: str, node_id: str, body: dict[str, Any], now: int
) -> None:
    """Apply an update body; at least one field must be sent."""
    row = _row(conn, workspace_id, kind, node_id)
    values: dict[str, Any] = {}
    if (name := parse_name(body, required=False)) is not None:
        values["name"] = name
    parent = parse_parent(body)
    if parent is not _ABSENT:
        _check_folder(conn, workspace_id, parent)
        if kind == "folder" and parent is not None:
            _check_not_within(conn, workspace_id, node_id, parent)
        values["parent_folder_id"] = parent
    if kind == "email":
        if "is_template" in body:
            values["is_template"] = _is_template(body["is_template"])
        if any(key in body for key in ("content", "envelope", "transformers")):
            values["body"] = _encode(parse_email_body(body, _decode(row.body))).decode()
    if kind == "component":
        if "tag" in body:
            values["tag"] = parse_tag(body["tag"])
            _check_tag_free(conn, workspace_id, values["tag"], node_id)
        if "content" in body:
            values["body"] = _encode(_html(body["content"] or "")).decode()
    if not values:
        raise bad_request("nothing to update: send at least one field")
    values["updated_at"] = now
    conn.execute(update(nodes).where(nodes.c.id == row.id).values(values))


def remove(conn: Connection, workspace_id: int, kind: str, node_id: str) -> None:
    """Delete a node; a folder must be empty, an email takes its translations along."""
    row = _row(conn, workspace_id, kind, node_id)
    if kind == "folder":
        inside = conn.execute(
            select(func.count()).where(
                nodes.c.workspace_id == workspace_id, nodes.c.parent_folder_id == row.id
            )
        ).scalar_one()
        if inside:
            raise ApiError(409, "the folder is not empty: move or delete what it holds first")
    if kind == "email":
        conn.execute(delete(languages).where(languages.c.email_id == row.id))
    conn.execute(delete(nodes).where(nodes.c.id == row.id))


def add_language(
    conn: Connection, workspace_id: int, email_id: str, body: dict[str, Any], now: int
) -> dict[str, Any]:
    row = _row(conn, workspace_id, "email", email_id)
    language = parse_language(body.get("language"))
    if _language_row(conn, row.id, language) is not None:
        raise ApiError(409, f"the email has a {language!r} translation already", field="language")
    conn.execute(
        insert(languages).values(
            email_id=row.id,
            language=language,
            workspace_id=workspace_id,
            body=_encode(parse_email_body(body, {})).decode(),
            created_at=now,
            updated_at=now,
        )
    )
    return get_language(conn, workspace_id, email_id, language)


def change_language(
    conn: Connection,
    workspace_id: int,
    email_id: str,
    language: str,
    body: dict[str, Any],
    now: int,
) -> None:
    found = _existing_language(conn, workspace_id, email_id, language)
    if not any(key in body for key in ("content", "envelope", "transformers")):
        raise bad_request("nothing to update: send content, envelope or transformers")
    merged = parse_email_body(body, _decode(found.body))
    conn.execute(
        update(languages)
        .where(languages.c.email_id == found.email_id, languages.c.language == language)
        .values(body=_encode(merged).decode(), updated_at=now)
    )


def remove_language(conn: Connection, workspace_id: int, email_id: str, language: str) -> None:
    found = _existing_language(conn, workspace_id, email_id, language)
    conn.execute(
        delete(languages).where(
            languages.c.email_id == found.email_id, languages.c.language == language
        )
    )


def _is_template(raw: Any) -> int:
    if not isinstance(raw, bool):
        raise bad_request("is_template must be true or false", "is_template")
    return int(raw)


def _check_folder(conn: Connection, workspace_id: int, folder_id: str | None) -> None:
    if folder_id is not None and _find(conn, workspace_id, "folder", folder_id) is None:
        raise bad_request("parent_folder_id names no folder of this workspace", "parent_folder_id")


def _check_not_within(conn: Connection, workspace_id: int, folder_id: str, target: str) -> None:
    """A folder cannot move into itself or one of its own subfolders."""
    if trees.within(conn, nodes, target, folder_id, *_folders(workspace_id)):
        raise bad_request("a folder cannot move into itself or its subfolders")


def _check_tag_free(conn: Connection, workspace_id: int, tag: str, own_id: str | None) -> None:
    taken = conn.execute(
        select(nodes.c.id).where(
            nodes.c.workspace_id == workspace_id,
            nodes.c.kind == "component",
            nodes.c.tag == tag,
        )
    ).scalar()
    if taken is not None and taken != own_id:
        raise ApiError(400, f"a component tagged {tag!r} exists already", field="tag")


# --- reads -------------------------------------------------------------------


def get(conn: Connection, workspace_id: int, kind: str, node_id: str) -> dict[str, Any]:
    row = _row(conn, workspace_id, kind, node_id)
    langs = _languages_of(conn, [row.id]) if kind == "email" else {}
    return node_json(row, langs.get(row.id, []))


def list_nodes(conn: Connection, workspace_id: int, kind: str, listing: Listing) -> dict[str, Any]:
    """A page of `kind` nodes, with the folders at the same place for emails and
    components, and `meta` (page, limit, total)."""
    matching = _matching(conn, workspace_id, kind, listing)
    page, total = paging.numbered(conn, matching, listing.page, listing.limit)
    langs = _languages_of(conn, [r.id for r in page]) if kind == "email" else {}
    plural = kind + "s"
    found: dict[str, Any] = {plural: [node_json(r, langs.get(r.id, [])) for r in page]}
    if kind != "folder":
        folders = conn.execute(
            _matching(conn, workspace_id, "folder", Listing(listing.parent, True))
        )
        found["folders"] = [node_json(r, []) for r in folders]
    found["meta"] = {"page": listing.page, "limit": listing.limit, "total": total}
    return found


def _matching(conn: Connection, workspace_id: int, kind: str, listing: Listing) -> Select[Any]:
    """The `kind` nodes `listing` selects, in its order (the caller pages them)."""
    where = [nodes.c.workspace_id == workspace_id, nodes.c.kind == kind]
    if listing.parent is not None and not listing.direct_only:
        below = trees.subtree(conn, nodes, listing.parent, *_folders(workspace_id))
        where.append(nodes.c.parent_folder_id.in_(below))
    elif listing.parent is not None or listing.direct_only:
        where.append(
            nodes.c.parent_folder_id.is_(None)
            if listing.parent is None
            else nodes.c.parent_folder_id == listing.parent
        )
    for column, (after, before) in (
        (nodes.c.created_at, listing.created),
        (nodes.c.updated_at, listing.updated),
    ):
        if after is not None:
            where.append(column > after)
        if before is not None:
            where.append(column < before)
    if listing.is_template is not None and kind == "email":
        where.append(nodes.c.is_template == int(listing.is_template))
    if listing.tag is not None and kind == "component":
        where.append(nodes.c.tag == listing.tag)
    if listing.has_translations is not None and kind == "email":
        translated = select(languages.c.email_id).where(languages.c.workspace_id == workspace_id)
        where.append(
            nodes.c.id.in_(translated)
            if listing.has_translations
            else nodes.c.id.not_in(translated)
        )
    if listing.is_linked is not None and kind == "email":
        linked = list(linked_emails(conn, workspace_id))
        where.append(nodes.c.id.in_(linked) if listing.is_linked else nodes.c.id.not_in(linked))
    column = SORTS[listing.sort]
    order: list[Any] = (
        [column.desc(), nodes.c.id.desc()] if listing.descending else [column, nodes.c.id]
    )
    return select(nodes).where(*where).order_by(*order)


def _folders(workspace_id: int) -> tuple[Any, ...]:
    """Where a workspace's Design Studio folders are."""
    return nodes.c.workspace_id == workspace_id, nodes.c.kind == "folder"


def linked_emails(conn: Connection, workspace_id: int) -> set[str]:
    """The emails contents name (`design_studio_email_id`): transactional messages'
    and the campaign, broadcast and newsletter actions' still in their workflows."""
    named = f'"{DESIGN_STUDIO_FIELD}"'
    transactional = select(contents.c.fields).where(
        contents.c.workspace_id == workspace_id, contents.c.fields.contains(named)
    )
    actions = (
        select(action_contents.c.fields)
        .join(campaign_actions, campaign_actions.c.id == action_contents.c.action_id)
        .where(
            action_contents.c.workspace_id == workspace_id,
            action_contents.c.fields.contains(named),
            campaign_actions.c.removed == 0,
        )
    )
    return {
        str(_decode(text)[DESIGN_STUDIO_FIELD])
        for query in (transactional, actions)
        for text in conn.execute(query).scalars()
    }


def check_named(conn: Connection, workspace_id: int, fields: dict[str, Any]) -> None:
    """A 400 naming the field when `fields` name a Design Studio email the workspace does
    not have (a folder's or component's id is not an email's)."""
    email_id = fields.get(DESIGN_STUDIO_FIELD)
    if email_id is not None and _find(conn, workspace_id, "email", str(email_id)) is None:
        raise bad_request(
            "design_studio_email_id names no Design Studio email", DESIGN_STUDIO_FIELD
        )


def node_json(row: Any, langs: list[str]) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "id": row.id,
        "name": row.name,
        "parent_folder_id": row.parent_folder_id,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }
    if row.kind == "email":
        body = _decode(row.body)
        shown.update(is_template=bool(row.is_template), languages=langs, **body)
    elif row.kind == "component":
        shown.update(tag=row.tag, content=_decode(row.body))
    return shown


def list_languages(conn: Connection, workspace_id: int, email_id: str) -> dict[str, Any]:
    row = _row(conn, workspace_id, "email", email_id)
    found = conn.execute(
        select(languages).where(languages.c.email_id == row.id).order_by(languages.c.language)
    )
    base = _decode(row.body)
    return {"email_translations": [_translation_json(row.id, base, t) for t in found]}


def get_language(
    conn: Connection, workspace_id: int, email_id: str, language: str
) -> dict[str, Any]:
    row = _row(conn, workspace_id, "email", email_id)
    found = _translation(conn, row, language)
    return {"email_translation": _translation_json(email_id, _decode(row.body), found)}


def _translation_json(email_id: str, base: dict[str, Any], row: Any) -> dict[str, Any]:
    """A translation as sent: its own blocks over the default language's."""
    merged = merge(base, _decode(row.body))
    return {
        "email_id": email_id,
        "language": row.language,
        **merged,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`override`'s set keys over `base`'s, block by block."""
    return {
        key: {
            **(base.get(key) or {}),
            **{k: v for k, v in (override.get(key) or {}).items() if v is not None},
        }
        for key in ("content", "envelope", "transformers")
    }


def email_fields(
    conn: Connection, workspace_id: int, email_id: str, language: str | None
) -> dict[str, str] | None:
    """The message fields (`subject`, `preheader`, `body`, `body_plain`) of a Design
    Studio email in `language` (its translation when it has one), or None when the
    email is gone. What a transactional content naming the email renders."""
    row = _find(conn, workspace_id, "email", email_id)
    if row is None:
        return None
    body = _decode(row.body)
    if language:
        translated = _language_row(conn, row.id, language)
        if translated is not None:
            body = merge(body, _decode(translated.body))
    content = body.get("content") or {}
    mapping = {
        "subject": "subject",
        "preheader_text": "preheader",
        "html": "body",
        "text": "body_plain",
    }
    return {field: content[key] for key, field in mapping.items() if content.get(key)}


def _row(conn: Connection, workspace_id: int, kind: str, node_id: str) -> Any:
    row = _find(conn, workspace_id, kind, node_id)
    if row is None:
        raise not_found(f"Design Studio {kind} not found")
    return row


def _find(conn: Connection, workspace_id: int, kind: str, node_id: str) -> Any:
    return conn.execute(
        select(nodes).where(
            nodes.c.workspace_id == workspace_id, nodes.c.kind == kind, nodes.c.id == node_id
        )
    ).first()


def _language_row(conn: Connection, email_id: str, language: str) -> Any:
    return conn.execute(
        select(languages).where(languages.c.email_id == email_id, languages.c.language == language)
    ).first()


def _existing_language(conn: Connection, workspace_id: int, email_id: str, language: str) -> Any:
    return _translation(conn, _row(conn, workspace_id, "email", email_id), language)


def _translation(conn: Connection, email: Any, language: str) -> Any:
    """`email`'s translation into `language`; a 404 when it has none."""
    found = _language_row(conn, email.id, language)
    if found is None:
        raise not_found(f"the email has no {language!r} translation")
    return found


def _languages_of(conn: Connection, email_ids: list[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    if not email_ids:
        return found
    for email_id, language in conn.execute(
        select(languages.c.email_id, languages.c.language)
        .where(languages.c.email_id.in_(email_ids))
        .order_by(languages.c.language)
    ):
        found.setdefault(email_id, []).append(language)
    return found
