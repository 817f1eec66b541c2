"""Collections: named arrays of rows that messages can use (`/v1/collections`, App API).

A collection's rows come inline (`data`, or `PUT .../content`) or from a `url`
fetched in the background (`collections/job.py`). Creating or re-pointing a
url collection enqueues its fetch in the same transaction, so the job exists
exactly when the change committed. Until a fetch lands, a collection keeps
the rows it had (none for a new one) and shows `fetch_status: "pending"`.

Only the latest `url` counts: a fetch stores its rows only if the collection
still points at the URL it fetched, so a late job of a replaced URL, or of a
collection given inline data meanwhile, changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import Connection, delete, insert, select, update

from tidings import numbers
from tidings.collections.rows import EMPTY, Content, InvalidRows, content_of
from tidings.db.schema import collections
from tidings.errors import ApiError, bad_request, not_found
from tidings.fetch import FetchFailed, parse_url
from tidings.jobs import queue

JOB_KIND = "collection_fetch"
MAX_NAME_CHARS = 255
MAX_URL_CHARS = 2048

# Every column but `data`: listings and metadata never load the rows.
_META = [c for c in collections.c if c.name != "data"]


@dataclass(frozen=True)
class Change:
    """What a create or update sets; `content` and `url` never both."""

    name: str | None = None
    content: Content | None = None
    url: str | None = None


# --- parsing (pure) ----------------------------------------------------------


def parse_collection_id(raw: str) -> int:
    """A `{collection_id}` path value; anything that cannot be an id is a 404."""
    return numbers.path_id(raw, "collection")


def parse_create(body: dict[str, Any]) -> Change:
    """`{"name", "data"}` or `{"name", "url"}`: a name and exactly one source of rows."""
    change = parse_update(body)
    if change.name is None:
        raise bad_request("name is required", "name")
    if change.content is None and change.url is None:
        raise bad_request("a collection needs data (an array of objects) or a url", "data")
    return change


def parse_update(body: dict[str, Any]) -> Change:
    """Any of `name`, `data`, `url` (data and url exclusive); null counts as absent."""
    data, url = body.get("data"), body.get("url")
    if data is not None and url is not None:
        raise bad_request("data and url are mutually exclusive: send one of them", "data")
    name = body.get("name")
    return Change(
        name=None if name is None else _name(name),
        content=None if data is None else parse_content(data, "data"),
        url=None if url is None else _url(url),
    )


def parse_content(rows: Any, field: str = "content") -> Content:
    try:
        return content_of(rows, field)
    except InvalidRows as exc:
        raise bad_request(str(exc), field) from exc


def _name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise bad_request("name must be a non-empty string", "name")
    if len(name) > MAX_NAME_CHARS:
        raise bad_request(f"name cannot be longer than {MAX_NAME_CHARS} characters", "name")
    return name


def _url(url: Any) -> str:
    if not isinstance(url, str) or len(url) > MAX_URL_CHARS:
        raise bad_request(
            f"url must be an http(s) URL of at most {MAX_URL_CHARS} characters", "url"
        )
    try:
        parse_url(url)
    except FetchFailed as exc:
        raise bad_request(str(exc), "url") from exc
    return url


# --- use cases (never commit) ------------------------------------------------


def create(conn: Connection, workspace_id: int, change: Change, now: int) -> dict[str, Any]:
    assert change.name is not None
    _check_name_free(conn, workspace_id, change.name, None)
    values = {"workspace_id": workspace_id, "name": change.name, "created_at": now}
    values.update(_source_values(change.content or EMPTY, change.url, now))
    collection_id = conn.execute(insert(collections).values(values)).inserted_primary_key[0]
    if change.url is not None:
        _enqueue_fetch(conn, workspace_id, collection_id, change.url, now)
    return get(conn, workspace_id, collection_id)


def update_one(
    conn: Connection, workspace_id: int, collection_id: int, change: Change, now: int
) -> dict[str, Any]:
    """Rename and/or replace the rows (inline now, or from a url fetched later)."""
    _meta_row(conn, workspace_id, collection_id)
    values: dict[str, Any] = {"updated_at": now}
    if change.name is not None:
        _check_name_free(conn, workspace_id, change.name, collection_id)
        values["name"] = change.name
    if change.content is not None:
        values.update(_source_values(change.content, None, now))
    if change.url is not None:
        values.update(url=change.url, fetch_status="pending", fetch_error=None)
        _enqueue_fetch(conn, workspace_id, collection_id, change.url, now)
    conn.execute(update(collections).where(_one(workspace_id, collection_id)).values(values))
    return get(conn, workspace_id, collection_id)


def replace_content(
    conn: Connection, workspace_id: int, collection_id: int, content: Content, now: int
) -> dict[str, Any]:
    """`PUT .../content`: the rows become `content`; a url collection becomes an inline one."""
    return update_one(conn, workspace_id, collection_id, Change(content=content), now)


def delete_one(conn: Connection, workspace_id: int, collection_id: int) -> None:
    if not conn.execute(delete(collections).where(_one(workspace_id, collection_id))).rowcount:
        raise not_found("collection not found")


def _source_values(content: Content, url: str | None, now: int) -> dict[str, Any]:
    return {
        "data": content.data,
        "schema": msgspec.json.encode(list(content.schema)).decode(),
        "rows": content.rows,
        "bytes": content.bytes,
        "url": url,
        "fetch_status": None if url is None else "pending",
        "fetch_error": None,
        "updated_at": now,
    }


def _check_name_free(conn: Connection, workspace_id: int, name: str, own_id: int | None) -> None:
    """Names are unique per workspace: Liquid refers to a collection by its name."""
    taken = conn.execute(
        select(collections.c.id).where(
            collections.c.workspace_id == workspace_id, collections.c.name == name
        )
    ).scalar()
    if taken is not None and taken != own_id:
        raise ApiError(
            400, f"a collection named {name!r} already exists", code="duplicate", field="name"
        )


def _enqueue_fetch(
    conn: Connection, workspace_id: int, collection_id: int, url: str, now: int
) -> None:
    queue.enqueue(conn, workspace_id, JOB_KIND, {"collection_id": collection_id, "url": url}, now)


# --- reads -------------------------------------------------------------------


def collection_json(row: Any) -> dict[str, Any]:
    """Customer.io's collection object; url collections add `url`, `fetch_status`
    and `fetch_error` (our extension: where the rows come from and how the last
    fetch went)."""
    shown: dict[str, Any] = {
        "id": row.id,
        "name": row.name,
        "schema": msgspec.json.decode(row.schema),
        "rows": row.rows,
        "bytes": row.bytes,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }
    if row.url is not None:
        shown.update(url=row.url, fetch_status=row.fetch_status, fetch_error=row.fetch_error)
    return shown


def get(conn: Connection, workspace_id: int, collection_id: int) -> dict[str, Any]:
    return collection_json(_meta_row(conn, workspace_id, collection_id))


def list_all(conn: Connection, workspace_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(*_META).where(collections.c.workspace_id == workspace_id).order_by(collections.c.id)
    )
    return [collection_json(row) for row in rows]


def content(conn: Connection, workspace_id: int, collection_id: int) -> str:
    """The rows, as the stored compact JSON array text."""
    data = conn.execute(
        select(collections.c.data).where(_one(workspace_id, collection_id))
    ).scalar()
    if data is None:
        raise not_found("collection not found")
    return str(data)


def _meta_row(conn: Connection, workspace_id: int, collection_id: int) -> Any:
    row = conn.execute(select(*_META).where(_one(workspace_id, collection_id))).first()
    if row is None:
        raise not_found("collection not found")
    return row


def _one(workspace_id: int, collection_id: int) -> Any:
    return (collections.c.workspace_id == workspace_id) & (collections.c.id == collection_id)


# --- the fetch job's steps ---------------------------------------------------


def still_wanted(conn: Connection, workspace_id: int, collection_id: int, url: str) -> bool:
    """Whether the collection still exists and still takes its rows from `url`."""
    current = conn.execute(
        select(collections.c.url).where(_one(workspace_id, collection_id))
    ).scalar()
    return current == url


def store_fetched(
    conn: Connection, workspace_id: int, collection_id: int, url: str, fetched: Content, now: int
) -> bool:
    """Replace the rows with what `url` gave, unless the collection moved on meanwhile."""
    values = _source_values(fetched, url, now) | {"fetch_status": "done"}
    changed = conn.execute(
        update(collections)
        .where(_one(workspace_id, collection_id), collections.c.url == url)
        .values(values)
    ).rowcount
    return bool(changed)


def mark_failed(
    conn: Connection, workspace_id: int, collection_id: int, url: str, error: str, now: int
) -> None:
    """Record why fetching `url` failed for good; the previous rows stay."""
    conn.execute(
        update(collections)
        .where(_one(workspace_id, collection_id), collections.c.url == url)
        .values(fetch_status="failed", fetch_error=error, updated_at=now)
    )
