"""Layouts: named email wrappers; a message's body goes where `{{ content }}` is.

A content names its layout in its `layout` field; the send pipeline renders
the body, then the layout with `content` set to it (`layout_body`).
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from tidings.db.schema import layouts
from tidings.errors import ApiError, bad_request, not_found
from tidings.templates import checks, version

MAX_NAME_CHARS = 255
MAX_BODY_CHARS = 512_000
_CONTENT = re.compile(r"\{\{\s*content\s*\}\}")


def parse(body: Any, name: str | None = None) -> tuple[str, str]:
    """`{"name", "body"}` (the name may come from the path instead)."""
    if not isinstance(body, dict):
        raise bad_request("body must be a JSON object")
    name = name if name is not None else body.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_CHARS:
        raise bad_request(f"name must be a non-empty string of at most {MAX_NAME_CHARS}", "name")
    text = body.get("body")
    if not isinstance(text, str) or len(text) > MAX_BODY_CHARS:
        raise bad_request(f"body must be a string of at most {MAX_BODY_CHARS} characters", "body")
    checks.liquid(text, "body")
    return name.strip(), text


def layout_json(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "body": row.body,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def put(conn: Connection, workspace_id: int, name: str, body: str, now: int) -> str:
    """Create or replace the layout `name`; "create", "update" or "same"."""
    version.bump(conn, workspace_id)
    where = (layouts.c.workspace_id == workspace_id, layouts.c.name == name)
    found = conn.execute(select(layouts.c.body).where(*where)).first()
    if found is None:
        conn.execute(
            insert(layouts).values(
                workspace_id=workspace_id, name=name, body=body, created_at=now, updated_at=now
            )
        )
        return "create"
    if found.body == body:
        return "same"
    conn.execute(update(layouts).where(*where).values(body=body, updated_at=now))
    return "update"


def save(conn: Connection, workspace_id: int, name: str, body: str, now: int) -> dict[str, Any]:
    """`put`, answered with the layout as stored (one transaction for both)."""
    put(conn, workspace_id, name, body, now)
    return get(conn, workspace_id, name)


def create(conn: Connection, workspace_id: int, name: str, body: str, now: int) -> dict[str, Any]:
    """A new layout (the web UI's create; `put` replaces): a 409 when the name is taken."""
    if layout_body(conn, workspace_id, name) is not None:
        raise ApiError(409, f"a layout named {name!r} exists", code="conflict", field="name")
    return save(conn, workspace_id, name, body, now)


def get(conn: Connection, workspace_id: int, name: str) -> dict[str, Any]:
    row = conn.execute(
        select(layouts).where(layouts.c.workspace_id == workspace_id, layouts.c.name == name)
    ).first()
    if row is None:
        raise not_found("layout not found")
    return layout_json(row)


def list_all(conn: Connection, workspace_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(layouts).where(layouts.c.workspace_id == workspace_id).order_by(layouts.c.name)
    )
    return [layout_json(row) for row in rows]


def remove(conn: Connection, workspace_id: int, name: str) -> None:
    gone = conn.execute(
        delete(layouts).where(layouts.c.workspace_id == workspace_id, layouts.c.name == name)
    )
    if not gone.rowcount:
        raise not_found("layout not found")
    version.bump(conn, workspace_id)


def layout_body(conn: Connection, workspace_id: int, name: str) -> str | None:
    """The layout's Liquid source, or None when the workspace has no such layout."""
    return conn.execute(
        select(layouts.c.body).where(layouts.c.workspace_id == workspace_id, layouts.c.name == name)
    ).scalar()


def name_of(conn: Connection, workspace_id: int, layout_id: int) -> str | None:
    """The name of the workspace's layout `layout_id` (what a content's `layout` holds),
    or None when it has none."""
    where = (layouts.c.workspace_id == workspace_id, layouts.c.id == layout_id)
    return conn.execute(select(layouts.c.name).where(*where)).scalar()


def wrap(source: str, body: str, max_chars: int) -> str | None:
    """The layout `source` with `body` in place of each `{{ content }}`; None when that
    would be longer than `max_chars`, found before any of it is built (a layout
    that repeats `{{ content }}` thousands of times around a large body would
    otherwise take gigabytes)."""
    places = [match.end() - match.start() for match in _CONTENT.finditer(source)]
    if len(source) - sum(places) + len(places) * len(body) > max_chars:
        return None
    return _CONTENT.sub(lambda _: body, source)


def origin(source: str, body: str, line: int, column: int | None) -> tuple[str, int, int | None]:
    """Where a 1-based position in `wrap(source, body)` comes from: ("body", line,
    column) when it falls in the body put at the layout's first `{{ content }}`,
    else ("layout", line, column) in the layout's own source. Exact before and
    after the first `{{ content }}`; past a second one, the body's lines are not
    counted again. A position without a column on the body's first or last line,
    which the layout shares, counts as the body's."""
    found = _CONTENT.search(source)
    if found is None:
        return "layout", line, column
    prefix = source[: found.start()]
    before = prefix.count("\n")  # wrapped lines wholly before the body
    body_lines = body.count("\n")
    indent = len(prefix) - (prefix.rfind("\n") + 1)  # layout text before it on its line
    first, last = before + 1, before + 1 + body_lines
    if line < first:
        return "layout", line, column
    if line > last:
        return "layout", line - body_lines, column
    if column is None:
        return "body", line - before, None
    start = indent if line == first else 0  # where the body's text begins on this line
    if column <= start:
        return "layout", first, column
    end = start + (len(body) - (body.rfind("\n") + 1)) if line == last else None
    if end is not None and column > end:
        layout_column = column - end + indent + (found.end() - found.start())
        return "layout", first, layout_column
    return "body", line - before, column - start
