"""Files stored in parts, and their expiring download links."""

from __future__ import annotations

import pytest

from tidings import files


@pytest.fixture
def small_parts(monkeypatch):
    monkeypatch.setattr(files, "PART_SIZE", 10)


def store(tx, workspace_id: int, chunks: list[bytes]) -> int:
    file_id = tx(files.create, workspace_id, "export", "people.csv", "text/csv", 1000)
    sink = files.FileSink(tx, file_id)
    for chunk in chunks:
        sink.add(chunk)
    sink.close()
    return file_id


def test_a_file_is_stored_in_parts_and_read_back_whole(db, tx, query, workspace, small_parts):
    chunks = [b"id,email\r\n"] + [f"{n},p{n}@example.com\r\n".encode() for n in range(20)]
    file_id = store(tx, workspace.workspace_id, chunks)
    stored = query(files.describe, workspace.workspace_id, file_id)
    assert stored.size == len(b"".join(chunks))
    assert stored.parts > 20  # about one part per 10 bytes
    assert b"".join(files.iter_content(db, stored)) == b"".join(chunks)


def test_an_empty_file_has_one_empty_part(db, tx, query, workspace):
    file_id = store(tx, workspace.workspace_id, [])
    stored = query(files.describe, workspace.workspace_id, file_id)
    assert (stored.size, stored.parts) == (0, 1)
    assert b"".join(files.iter_content(db, stored)) == b""


def test_an_unfinished_or_foreign_file_is_not_described(tx, query, workspace, other_workspace):
    unfinished = tx(files.create, workspace.workspace_id, "export", "x.csv", "text/csv", 1000)
    assert query(files.describe, workspace.workspace_id, unfinished) is None
    done = store(tx, workspace.workspace_id, [b"a"])
    assert query(files.describe, other_workspace.workspace_id, done) is None


def test_a_link_grants_the_file_until_it_expires(tx, query, workspace):
    file_id = store(tx, workspace.workspace_id, [b"a,b\r\n"])
    token, expires_at = tx(files.create_link, workspace.workspace_id, file_id, 1000)
    assert expires_at == 1000 + 15 * 60
    assert query(files.resolve_link, token, expires_at).id == file_id
    assert query(files.resolve_link, token, expires_at + 1) is None
    assert query(files.resolve_link, token + "x", 1000) is None


def test_removing_a_file_removes_its_parts_and_links(tx, query, workspace):
    file_id = store(tx, workspace.workspace_id, [b"a"])
    token, _ = tx(files.create_link, workspace.workspace_id, file_id, 1000)
    tx(files.remove, file_id)
    assert query(files.resolve_link, token, 1000) is None
    assert query(files.describe, workspace.workspace_id, file_id) is None


def test_a_reader_that_stops_early_leaves_no_connection_open(db, tx, query, workspace, small_parts):
    file_id = store(tx, workspace.workspace_id, [b"x" * 10] * 5)
    stored = query(files.describe, workspace.workspace_id, file_id)
    parts = files.iter_content(db, stored)
    assert next(parts) == b"x" * 10
    checked_out = db.reader.pool.checkedout()  # type: ignore[attr-defined]
    assert checked_out == 0
    parts.close()
