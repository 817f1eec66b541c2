"""Snippets: named pieces of Liquid that templates use as `{{ snippets.<name> }}`.

`PUT /v1/snippets` upserts by name (Customer.io's behaviour); a snippet's value
is itself Liquid, rendered when a template uses it (`templates/render.py`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from tidings.db.schema import snippets
from tidings.errors import ApiError, bad_request, not_found
from tidings.templates import checks, version

MAX_NAME_CHARS = 255
MAX_VALUE_CHARS = 100_000


def parse(body: Any) -> tuple[str, str]:
    """`{"name", "value"}` of a snippet."""
    if not isinstance(body, dict):
        raise bad_request("body must be a JSON object")
    name, value = body.get("name"), body.get("value")
    if not isinstance(name, str) or not name.strip():
        raise bad_request("name is required", "name")
    if len(name) > MAX_NAME_CHARS:
        raise bad_request(f"name is longer than {MAX_NAME_CHARS} characters", "name")
    if not isinstance(value, str):
        raise bad_request("value must be a string", "value")
    if len(value) > MAX_VALUE_CHARS:
        raise bad_request(f"value is longer than {MAX_VALUE_CHARS} characters", "value")
    checks.liquid(value, "value")
    return name.strip(), value


def snippet_json(row: Any) -> dict[str, Any]:
    return {"name": row.name, "value": row.value, "updated_at": row.updated_at}


def put(conn: Connection, workspace_id: int, name: str, value: str, now: int) -> dict[str, Any]:
    """Create or replace the snippet `name`."""
    version.bump(conn, workspace_id)
    where = (snippets.c.workspace_id == workspace_id, snippets.c.name == name)
    changed = conn.execute(update(snippets).where(*where).values(value=value, updated_at=now))
    if not changed.rowcount:
        conn.execute(
            insert(snippets).values(
                workspace_id=workspace_id, name=name, value=value, updated_at=now
            )
        )
    return {"name": name, "value": value, "updated_at": now}


def create(conn: Connection, workspace_id: int, name: str, value: str, now: int) -> dict[str, Any]:
    """A new snippet (the web UI's create; `put` replaces): a 409 when the name is taken."""
    taken = select(snippets.c.name).where(
        snippets.c.workspace_id == workspace_id, snippets.c.name == name
    )
    if conn.execute(taken).first() is not None:
        raise ApiError(409, f"a snippet named {name!r} exists", code="conflict", field="name")
    return put(conn, workspace_id, name, value, now)


def list_all(conn: Connection, workspace_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(snippets).where(snippets.c.workspace_id == workspace_id).order_by(snippets.c.name)
    )
    return [snippet_json(row) for row in rows]


def get(conn: Connection, workspace_id: int, name: str) -> dict[str, Any]:
    row = conn.execute(
        select(snippets).where(snippets.c.workspace_id == workspace_id, snippets.c.name == name)
    ).first()
    if row is None:
        raise not_found("snippet not found")
    return snippet_json(row)


def remove(conn: Connection, workspace_id: int, name: str) -> None:
    gone = conn.execute(
        delete(snippets).where(snippets.c.workspace_id == workspace_id, snippets.c.name == name)
    )
    if not gone.rowcount:
        raise not_found("snippet not found")
    version.bump(conn, workspace_id)


def values(conn: Connection, workspace_id: int) -> dict[str, str]:
    """Every snippet's source by name, for rendering."""
    rows = conn.execute(
        select(snippets.c.name, snippets.c.value).where(snippets.c.workspace_id == workspace_id)
    )
    return {name: value for name, value in rows}
