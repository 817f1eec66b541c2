"""Files kept in the database: export CSVs and uploaded import files.

A file is written in parts of about `PART_SIZE` bytes, each part its own
short transaction, and read back one part at a time, so neither side holds a
whole file in memory and every process of a deployment sees the same files.
A file is usable once `complete` is set.

Download links are random tokens (stored as their SHA-256) that expire; the
token alone grants the download, as Customer.io's signed export links do.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from tidings.db.engine import Database
from tidings.db.schema import download_links, file_parts, files

PART_SIZE = 1 << 20
LINK_TTL = 15 * 60


@dataclass(frozen=True)
class StoredFile:
    id: int
    workspace_id: int
    name: str
    content_type: str
    size: int
    parts: int


def create(
    conn: Connection, workspace_id: int, purpose: str, name: str, content_type: str, now: int
) -> int:
    result = conn.execute(
        insert(files).values(
            workspace_id=workspace_id,
            purpose=purpose,
            name=name,
            content_type=content_type,
            size=0,
            complete=0,
            created_at=now,
        )
    )
    return int(result.inserted_primary_key[0])


def append_part(conn: Connection, file_id: int, seq: int, data: bytes) -> None:
    conn.execute(insert(file_parts).values(file_id=file_id, seq=seq, data=data))


def mark_complete(conn: Connection, file_id: int, size: int) -> None:
    conn.execute(update(files).where(files.c.id == file_id).values(size=size, complete=1))


def remove(conn: Connection, file_id: int) -> None:
    conn.execute(delete(file_parts).where(file_parts.c.file_id == file_id))
    conn.execute(delete(download_links).where(download_links.c.file_id == file_id))
    conn.execute(delete(files).where(files.c.id == file_id))


def describe(conn: Connection, workspace_id: int, file_id: int) -> StoredFile | None:
    """A complete file of this workspace, or None."""
    row = conn.execute(
        select(files.c.name, files.c.content_type, files.c.size).where(
            files.c.id == file_id, files.c.workspace_id == workspace_id, files.c.complete == 1
        )
    ).first()
    if row is None:
        return None
    parts = conn.execute(
        select(func.count()).select_from(file_parts).where(file_parts.c.file_id == file_id)
    ).scalar_one()
    return StoredFile(file_id, workspace_id, row.name, row.content_type, row.size, parts)


def read_part(conn: Connection, file_id: int, seq: int) -> bytes:
    return bytes(
        conn.execute(
            select(file_parts.c.data).where(
                file_parts.c.file_id == file_id, file_parts.c.seq == seq
            )
        ).scalar_one()
    )


def iter_content(db: Database, stored: StoredFile) -> Iterator[bytes]:
    """The file's bytes, one part (one short read) at a time.

    No connection is held while the consumer has a part: a consumer that stops
    early leaves nothing open for the garbage collector to close on another thread.
    """
    for seq in range(stored.parts):
        with db.reader.connect() as conn:
            part = read_part(conn, stored.id, seq)
        yield part


class FileSink:
    """Buffers what is written and stores it part by part through `write`.

    `write(fn, *args)` runs `fn(conn, *args)` in a committed transaction (a job's
    `JobContext.write`). Memory stays under about two parts whatever the size.
    """

    def __init__(self, write: Callable[..., Any], file_id: int) -> None:
        self._write = write
        self.file_id = file_id
        self._buffer = bytearray()
        self._seq = 0
        self.size = 0

    def add(self, data: bytes) -> None:
        self._buffer += data
        self.size += len(data)
        if len(self._buffer) >= PART_SIZE:
            self._flush()

    def close(self) -> None:
        """Store what is left and mark the file complete."""
        if self._buffer or self._seq == 0:
            self._flush()
        self._write(mark_complete, self.file_id, self.size)

    def _flush(self) -> None:
        self._write(append_part, self.file_id, self._seq, bytes(self._buffer))
        self._seq += 1
        self._buffer.clear()


def create_link(conn: Connection, workspace_id: int, file_id: int, now: int) -> tuple[str, int]:
    """A new download token for the file and when it expires."""
    token = secrets.token_urlsafe(32)
    expires_at = now + LINK_TTL
    conn.execute(delete(download_links).where(download_links.c.expires_at < now))
    conn.execute(
        insert(download_links).values(
            token_hash=_digest(token),
            workspace_id=workspace_id,
            file_id=file_id,
            expires_at=expires_at,
        )
    )
    return token, expires_at


def resolve_link(conn: Connection, token: str, now: int) -> StoredFile | None:
    """The file an unexpired token grants, or None."""
    row = conn.execute(
        select(download_links.c.workspace_id, download_links.c.file_id).where(
            download_links.c.token_hash == _digest(token), download_links.c.expires_at >= now
        )
    ).first()
    if row is None:
        return None
    return describe(conn, row.workspace_id, row.file_id)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
