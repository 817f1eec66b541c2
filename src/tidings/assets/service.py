"""Asset folders and files in the database (`/v1/assets`, App API); the bytes are
in the asset store (`assets/store.py`) under each file's token.

Ids are numeric, as Customer.io's are; every lookup is scoped to the workspace.
A folder must be empty to be deleted. Updates change names and folders only:
a file's bytes never change once uploaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Select, delete, func, insert, select, update

from tidings import numbers, paging
from tidings.db import trees
from tidings.db.schema import asset_folders as folders
from tidings.db.schema import assets
from tidings.errors import ApiError, bad_request, not_found

MAX_NAME_CHARS = 255
LIMIT_DEFAULT = 1000
LIMIT_MAX = 10_000
QUERY = ("parent_folder_id", "direct_descendants_only", "page", "limit")
_ABSENT = object()


@dataclass(frozen=True)
class Upload:
    name: str
    filename: str
    content_type: str
    size: int
    token: str
    folder_id: int | None


@dataclass(frozen=True)
class Listing:
    parent: int | None = None
    direct_only: bool = False
    page: int = 1
    limit: int = LIMIT_DEFAULT


@dataclass(frozen=True)
class Served:
    """What the public URL answers with."""

    token: str
    content_type: str
    filename: str


# --- parsing (pure) ----------------------------------------------------------


def parse_id(raw: str, what: str) -> int:
    return numbers.path_id(raw, what)


def parse_listing(query: dict[str, str]) -> Listing:
    parent = query.get("parent_folder_id")
    direct = query.get("direct_descendants_only", "false")
    if direct not in ("true", "false"):
        raise bad_request(
            "direct_descendants_only must be true or false", "direct_descendants_only"
        )
    return Listing(
        parent=None if not parent else _folder_ref(parent),
        direct_only=direct == "true",
        page=numbers.query_int(query, "page", 1, 1, 1_000_000),
        limit=numbers.query_int(query, "limit", LIMIT_DEFAULT, 1, LIMIT_MAX),
    )


def _folder_ref(raw: Any) -> int:
    text = str(raw)
    if isinstance(raw, bool) or not numbers.is_digits(text) or int(text) > numbers.MAX_ID:
        raise bad_request("parent_folder_id must be a folder id (a number)", "parent_folder_id")
    return int(text)


def parse_name(raw: Any, *, required: bool) -> str | None:
    if raw is None:
        if required:
            raise bad_request("name is required", "name")
        return None
    if not isinstance(raw, str) or not raw.strip() or len(raw) > MAX_NAME_CHARS:
        raise bad_request(
            f"name must be a non-empty string of at most {MAX_NAME_CHARS} characters", "name"
        )
    return raw


def parse_parent(body: dict[str, Any]) -> Any:
    """`parent_folder_id`: absent (keep), null (the root), or a folder id."""
    if "parent_folder_id" not in body:
        return _ABSENT
    raw = body["parent_folder_id"]
    return None if raw is None or raw == "" else _folder_ref(raw)


def parse_upload_folder(raw: str | None) -> int | None:
    return None if raw is None or raw == "" else _folder_ref(raw)


# --- use cases (never commit) ------------------------------------------------


def add_file(conn: Connection, workspace_id: int, upload: Upload, now: int) -> int:
    _check_folder(conn, workspace_id, upload.folder_id)
    values = {
        "workspace_id": workspace_id,
        "folder_id": upload.folder_id,
        "name": upload.name,
        "filename": upload.filename,
        "content_type": upload.content_type,
        "size": upload.size,
        "token": upload.token,
        "created_at": now,
        "updated_at": now,
    }
    return int(conn.execute(insert(assets).values(values)).inserted_primary_key[0])


def change_file(
    conn: Connection, workspace_id: int, asset_id: int, body: dict[str, Any], now: int
) -> None:
    _file(conn, workspace_id, asset_id)
    values = _changes(conn, workspace_id, body, "folder_id")
    conn.execute(
        update(assets).where(assets.c.id == asset_id).values({**values, "updated_at": now})
    )


def remove_file(conn: Connection, workspace_id: int, asset_id: int) -> str:
    """Delete the row; returns the token whose bytes the caller removes from the store."""
    row = _file(conn, workspace_id, asset_id)
    conn.execute(delete(assets).where(assets.c.id == asset_id))
    return str(row.token)


def add_folder(conn: Connection, workspace_id: int, body: dict[str, Any], now: int) -> int:
    name = parse_name(body.get("name"), required=True)
    parent = parse_parent(body)
    parent = None if parent is _ABSENT else parent
    _check_folder(conn, workspace_id, parent)
    values = {
        "workspace_id": workspace_id,
        "name": name,
        "parent_folder_id": parent,
        "created_at": now,
        "updated_at": now,
    }
    return int(conn.execute(insert(folders).values(values)).inserted_primary_key[0])


def change_folder(
    conn: Connection, workspace_id: int, folder_id: int, body: dict[str, Any], now: int
) -> None:
    _folder(conn, workspace_id, folder_id)
    values = _changes(conn, workspace_id, body, "parent_folder_id")
    target = values.get("parent_folder_id")
    if trees.within(conn, folders, target, folder_id, folders.c.workspace_id == workspace_id):
        raise bad_request("a folder cannot move into itself or its subfolders")
    conn.execute(
        update(folders).where(folders.c.id == folder_id).values({**values, "updated_at": now})
    )


def remove_folder(conn: Connection, workspace_id: int, folder_id: int) -> None:
    _folder(conn, workspace_id, folder_id)
    held = (
        conn.execute(
            select(func.count()).select_from(assets).where(assets.c.folder_id == folder_id)
        ).scalar_one()
        + conn.execute(
            select(func.count()).select_from(folders).where(folders.c.parent_folder_id == folder_id)
        ).scalar_one()
    )
    if held:
        raise ApiError(409, "the folder is not empty: move or delete what it holds first")
    conn.execute(delete(folders).where(folders.c.id == folder_id))


def _changes(
    conn: Connection, workspace_id: int, body: dict[str, Any], column: str
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if (name := parse_name(body.get("name"), required=False)) is not None:
        values["name"] = name
    parent = parse_parent(body)
    if parent is not _ABSENT:
        _check_folder(conn, workspace_id, parent)
        values[column] = parent
    if not values:
        raise bad_request("nothing to update: send name or parent_folder_id")
    return values


def _check_folder(conn: Connection, workspace_id: int, folder_id: int | None) -> None:
    if folder_id is not None and _find_folder(conn, workspace_id, folder_id) is None:
        raise bad_request(
            "parent_folder_id names no asset folder of this workspace", "parent_folder_id"
        )


# --- reads -------------------------------------------------------------------


def get_file(conn: Connection, workspace_id: int, asset_id: int, base_url: str) -> dict[str, Any]:
    return file_json(_file(conn, workspace_id, asset_id), base_url)


def get_folder(conn: Connection, workspace_id: int, folder_id: int) -> dict[str, Any]:
    return folder_json(_folder(conn, workspace_id, folder_id))


def list_files(
    conn: Connection, workspace_id: int, listing: Listing, base_url: str
) -> dict[str, Any]:
    where = [assets.c.workspace_id == workspace_id]
    where.extend(_placed(conn, workspace_id, listing, assets.c.folder_id))
    page, meta = _page(conn, select(assets).where(*where).order_by(assets.c.id), listing)
    return {"assets": [file_json(r, base_url) for r in page], "meta": meta}


def list_folders(conn: Connection, workspace_id: int, listing: Listing) -> dict[str, Any]:
    where = [folders.c.workspace_id == workspace_id]
    where.extend(_placed(conn, workspace_id, listing, folders.c.parent_folder_id))
    page, meta = _page(conn, select(folders).where(*where).order_by(folders.c.id), listing)
    return {"folders": [folder_json(r) for r in page], "meta": meta}


def served(conn: Connection, token: str) -> Served | None:
    """The file a public URL's token names, whatever its workspace (the token is the key)."""
    row = conn.execute(
        select(assets.c.token, assets.c.content_type, assets.c.filename).where(
            assets.c.token == token
        )
    ).first()
    return None if row is None else Served(row.token, row.content_type, row.filename)


def _placed(conn: Connection, workspace_id: int, listing: Listing, column: Any) -> list[Any]:
    if listing.parent is None:
        return [column.is_(None)] if listing.direct_only else []
    if listing.direct_only:
        return [column == listing.parent]
    below = trees.subtree(conn, folders, listing.parent, folders.c.workspace_id == workspace_id)
    return [column.in_(below)]


def _page(
    conn: Connection, query: Select[Any], listing: Listing
) -> tuple[list[Any], dict[str, int]]:
    rows, total = paging.numbered(conn, query, listing.page, listing.limit)
    return rows, {"page": listing.page, "limit": listing.limit, "total": total}


def public_url(base_url: str, token: str, filename: str) -> str:
    return f"{base_url}/assets/{token}/{_safe(filename)}"


def _safe(filename: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in filename) or "file"


def file_json(row: Any, base_url: str) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "filename": row.filename,
        "type": row.content_type,
        "size": row.size,
        "url": public_url(base_url, row.token, row.filename),
        "parent_folder_id": row.folder_id,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def folder_json(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "parent_folder_id": row.parent_folder_id,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def _file(conn: Connection, workspace_id: int, asset_id: int) -> Any:
    row = conn.execute(
        select(assets).where(assets.c.workspace_id == workspace_id, assets.c.id == asset_id)
    ).first()
    if row is None:
        raise not_found("asset not found")
    return row


def _find_folder(conn: Connection, workspace_id: int, folder_id: int) -> Any:
    return conn.execute(
        select(folders).where(folders.c.workspace_id == workspace_id, folders.c.id == folder_id)
    ).first()


def _folder(conn: Connection, workspace_id: int, folder_id: int) -> Any:
    row = _find_folder(conn, workspace_id, folder_id)
    if row is None:
        raise not_found("asset folder not found")
    return row
