"""Folder trees kept as parent links (`id`, `parent_folder_id`: Design Studio's nodes,
asset folders): a folder's whole subtree, and whether a move would put a folder
inside itself."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table, select


def subtree(conn: Connection, table: Table, root: Any, *where: Any) -> list[Any]:
    """`root` and the ids of every row of `table` below it (among the rows matching
    `where`), a level per statement."""
    found, frontier = [root], [root]
    while frontier:
        below = select(table.c.id).where(*where, table.c.parent_folder_id.in_(frontier))
        frontier = list(conn.execute(below).scalars())
        found.extend(frontier)
    return found


def within(conn: Connection, table: Table, start: Any, folder: Any, *where: Any) -> bool:
    """Whether `start` is `folder` or below it, following parent links up from `start`."""
    seen = start
    while seen is not None:
        if seen == folder:
            return True
        up = select(table.c.parent_folder_id).where(*where, table.c.id == seen)
        seen = conn.execute(up).scalar()
    return False
