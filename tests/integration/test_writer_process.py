"""The writer process: group commit in a process of its own, answered over a socket.

Each test spawns a real writer process (`python -m tidings.writer_process`)
on the session's SQLite store; the use cases below cross to it by reference,
as the server's do.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from sqlalchemy import insert, select

from tidings.db.remote_writer import RemoteWriter, WriterGone
from tidings.db.schema import forms
from tidings.db.writer import Overloaded
from tidings.db.writer_service import spawn
from tidings.errors import ApiError


@pytest.fixture
def writer_process(db):
    if not db.is_sqlite:
        pytest.skip("the writer process serves SQLite stores")
    process = spawn(db.url)
    yield process
    killed = process.process.poll() is not None
    code = process.stop()
    assert killed or code == 0


def add_form(conn, workspace_id, form_id, fail=False):
    conn.execute(
        insert(forms).values(
            workspace_id=workspace_id, form_id=form_id, created_at=0, submissions=0
        )
    )
    if fail:
        raise ApiError(422, f"refused {form_id}", code="refused", field="form_id")
    return {"form": form_id}


def add_forms(conn, items):
    for workspace_id, form_id in items:
        add_form(conn, workspace_id, form_id)


def _form_ids(db, workspace_id):
    with db.reader.connect() as conn:
        rows = conn.execute(select(forms.c.form_id).where(forms.c.workspace_id == workspace_id))
        return sorted(rows.scalars())


@contextlib.asynccontextmanager
async def _connected(path, **options):
    writer = RemoteWriter(**options)
    await writer.connect(path)
    try:
        yield writer
    finally:
        await asyncio.get_running_loop().run_in_executor(None, writer.stop)


def test_writes_commit_and_answer_with_their_results(db, workspace, writer_process):
    ws = workspace.workspace_id

    async def scenario():
        async with _connected(writer_process.socket_path) as writer:
            calls = [writer.submit(add_form, ws, f"p{i}", i == 3) for i in range(50)]
            return await asyncio.gather(*calls, return_exceptions=True), writer

    results, writer = asyncio.run(scenario())
    refused = results.pop(3)
    assert results == [{"form": f"p{i}"} for i in range(50) if i != 3]
    assert isinstance(refused, ApiError)
    assert (refused.status, refused.code, refused.field) == (422, "refused", "form_id")
    assert str(refused) == "refused p3"
    assert _form_ids(db, ws) == sorted(f"p{i}" for i in range(50) if i != 3)
    assert writer.jobs == 50 and 0 < writer.batches < 50  # writes shared commits


def test_bulk_items_and_threads_go_through_the_same_process(db, workspace, writer_process):
    ws = workspace.workspace_id

    async def scenario():
        async with _connected(writer_process.socket_path) as writer:
            bulk = [writer.submit_many(add_forms, (ws, f"q{i}")) for i in range(30)]
            loop = asyncio.get_running_loop()
            threaded = loop.run_in_executor(None, writer.call, add_form, ws, "from-a-thread")
            return await asyncio.gather(*bulk), await threaded

    bulk, threaded = asyncio.run(scenario())
    assert bulk == [None] * 30
    assert threaded == {"form": "from-a-thread"}
    assert _form_ids(db, ws) == sorted([*(f"q{i}" for i in range(30)), "from-a-thread"])


def test_several_servers_share_one_writer_process(db, workspace, writer_process):
    ws = workspace.workspace_id

    async def scenario():
        async with (
            _connected(writer_process.socket_path) as one,
            _connected(writer_process.socket_path) as two,
        ):
            calls = [(one if i % 2 else two).submit(add_form, ws, f"s{i}") for i in range(40)]
            return await asyncio.gather(*calls)

    assert len(asyncio.run(scenario())) == 40
    assert _form_ids(db, ws) == sorted(f"s{i}" for i in range(40))


def test_a_write_that_cannot_cross_fails_alone(db, workspace, writer_process):
    ws = workspace.workspace_id

    def local(conn):  # a closure cannot be pickled, so it cannot reach the writer
        return None

    async def scenario():
        async with _connected(writer_process.socket_path) as writer:
            calls = [writer.submit(add_form, ws, "t1"), writer.submit(local)]
            return await asyncio.gather(*calls, return_exceptions=True)

    fine, failed = asyncio.run(scenario())
    assert fine == {"form": "t1"}
    assert isinstance(failed, Exception) and not isinstance(failed, ApiError)
    assert _form_ids(db, ws) == ["t1"]


def test_writes_beyond_the_limit_are_refused_with_429(db, workspace, writer_process):
    async def scenario():
        async with _connected(writer_process.socket_path, max_pending=0) as writer:
            with pytest.raises(Overloaded) as caught:
                await writer.submit(add_form, workspace.workspace_id, "never")
            return caught.value.status

    assert asyncio.run(scenario()) == 429
    assert _form_ids(db, workspace.workspace_id) == []


def test_when_the_process_dies_waiting_and_later_writes_get_503(db, workspace, writer_process):
    ws = workspace.workspace_id

    async def scenario():
        async with _connected(writer_process.socket_path) as writer:
            await writer.submit(add_form, ws, "before")
            writer_process.process.kill()
            writer_process.process.wait()
            outcomes = []
            for name in ("during", "after"):
                with pytest.raises(WriterGone) as caught:
                    await writer.submit(add_form, ws, name)
                outcomes.append(caught.value.status)
            return outcomes

    assert asyncio.run(scenario()) == [503, 503]
    assert _form_ids(db, ws) == ["before"]


def test_stopping_answers_every_write_first(db, workspace):
    if not db.is_sqlite:
        pytest.skip("the writer process serves SQLite stores")
    ws = workspace.workspace_id
    process = spawn(db.url)

    async def scenario():
        writer = RemoteWriter()
        await writer.connect(process.socket_path)
        pending = [writer.submit(add_form, ws, f"u{i}") for i in range(200)]  # sent, unanswered
        await asyncio.get_running_loop().run_in_executor(None, writer.stop)
        return await asyncio.gather(*pending)

    try:
        assert len(asyncio.run(scenario())) == 200
    finally:
        assert process.stop() == 0
    assert _form_ids(db, ws) == sorted(f"u{i}" for i in range(200))
