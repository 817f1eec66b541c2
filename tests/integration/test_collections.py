"""Collections on both stores: the use cases, and url collections fetched by the job worker.

The module has a database of its own (`isolated_db`): the API test server's
job worker would otherwise take the `collection_fetch` jobs queued here and
fetch them with its own allowlist. After each test, jobs it left queued are
dropped, so every test's worker sees only its own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select, update

from tests.httpserver import Reply, Site, serve
from tidings.clock import FixedClock
from tidings.collections import service
from tidings.collections.job import CollectionFetchJob
from tidings.db.schema import jobs
from tidings.errors import ApiError
from tidings.fetch import Allowlist
from tidings.jobs.runner import JobWorker

LOCAL = Allowlist.parse("127.0.0.1/32")
ROWS = [{"city": "Lyon", "temp": 21}, {"city": "Oslo", "temp": 9, "snow": True}]


@pytest.fixture(scope="module")
def db(isolated_db):
    return isolated_db


@pytest.fixture(autouse=True)
def no_leftover_jobs(db) -> Iterator[None]:
    yield
    with db.writer.begin() as conn:
        conn.execute(
            update(jobs)
            .where(jobs.c.kind == service.JOB_KIND, jobs.c.state.in_(("queued", "running")))
            .values(state="failed", last_error="left over by a test")
        )


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def routes() -> dict[str, Reply]:
    return {
        "/cities.csv": Reply(body=b"city,temp\nParis,18\nRome,25\n", content_type="text/csv"),
        "/cities.json": Reply(body=json.dumps(ROWS).encode(), content_type="application/json"),
        "/missing": Reply(status=404),
        "/flaky": Reply(status=503),
        "/object.json": Reply(body=b'{"not": "rows"}', content_type="application/json"),
    }


@pytest.fixture
def site(routes: dict[str, Reply]) -> Iterator[Site]:
    with serve(routes) as s:
        yield s


def worker(db, clock: FixedClock, allow: Allowlist = LOCAL) -> JobWorker:
    return JobWorker(db, clock, {service.JOB_KIND: CollectionFetchJob(allow, timeout=5)})


def create(tx, workspace, clock, **body: Any) -> dict[str, Any]:
    change = service.parse_create(body)
    return tx(service.create, workspace.workspace_id, change, int(clock.now()))


def test_create_read_list_and_content(tx, query, workspace, clock) -> None:
    made = create(tx, workspace, clock, name="weather", data=ROWS)
    assert made == {
        "id": made["id"],
        "name": "weather",
        "schema": ["city", "snow", "temp"],
        "rows": 2,
        "bytes": len(json.dumps(ROWS, separators=(",", ":"))),
        "created_at": int(clock.now()),
        "updated_at": int(clock.now()),
    }
    ws = workspace.workspace_id
    assert query(service.get, ws, made["id"]) == made
    assert query(service.list_all, ws) == [made]
    assert json.loads(query(service.content, ws, made["id"])) == ROWS


def test_names_are_unique_per_workspace(tx, workspace, other_workspace, clock) -> None:
    first = create(tx, workspace, clock, name="menu", data=[])
    with pytest.raises(ApiError, match="a collection named 'menu' already exists") as caught:
        create(tx, workspace, clock, name="menu", data=[{"a": 1}])
    assert caught.value.status == 400
    create(tx, other_workspace, clock, name="menu", data=[])  # another workspace: fine
    second = create(tx, workspace, clock, name="drinks", data=[])
    rename = service.parse_update({"name": "menu"})
    with pytest.raises(ApiError, match="already exists"):
        tx(service.update_one, workspace.workspace_id, second["id"], rename, 1)
    kept = tx(service.update_one, workspace.workspace_id, first["id"], rename, 1)
    assert kept["name"] == "menu"


def test_update_renames_or_replaces_rows(tx, query, workspace, clock) -> None:
    made = create(tx, workspace, clock, name="v1", data=ROWS)
    ws, cid = workspace.workspace_id, made["id"]
    clock.advance(60)
    renamed = tx(service.update_one, ws, cid, service.parse_update({"name": "v2"}), clock.now())
    assert (renamed["name"], renamed["rows"], renamed["updated_at"]) == (
        "v2",
        2,
        made["updated_at"] + 60,
    )
    replaced = tx(service.update_one, ws, cid, service.parse_update({"data": [{"x": 1}]}), 1)
    assert (replaced["rows"], replaced["schema"]) == (1, ["x"])
    tx(service.replace_content, ws, cid, service.parse_content([{"y": 2}, {"y": 3}]), 2)
    assert json.loads(query(service.content, ws, cid)) == [{"y": 2}, {"y": 3}]
    assert query(service.get, ws, cid)["schema"] == ["y"]


def test_another_workspace_sees_nothing(tx, query, workspace, other_workspace, clock) -> None:
    made = create(tx, workspace, clock, name="private", data=ROWS)
    other = other_workspace.workspace_id
    for read in (service.get, service.content):
        with pytest.raises(ApiError, match="collection not found"):
            query(read, other, made["id"])
    with pytest.raises(ApiError, match="collection not found"):
        tx(service.delete_one, other, made["id"])
    with pytest.raises(ApiError, match="collection not found"):
        tx(service.update_one, other, made["id"], service.Change(name="x"), 1)
    assert query(service.list_all, other) == []
    assert query(service.get, workspace.workspace_id, made["id"])["name"] == "private"


def test_delete(tx, query, workspace, clock) -> None:
    made = create(tx, workspace, clock, name="gone", data=[])
    tx(service.delete_one, workspace.workspace_id, made["id"])
    with pytest.raises(ApiError) as caught:
        query(service.get, workspace.workspace_id, made["id"])
    assert caught.value.status == 404


def test_url_collection_is_fetched_by_the_job(db, tx, query, workspace, clock, site) -> None:
    made = create(tx, workspace, clock, name="cities", url=site.url("/cities.csv"))
    assert (made["rows"], made["fetch_status"], made["fetch_error"]) == (0, "pending", None)
    assert made["url"] == site.url("/cities.csv")
    assert worker(db, clock).run_once()
    done = query(service.get, workspace.workspace_id, made["id"])
    assert (done["rows"], done["schema"], done["fetch_status"]) == (2, ["city", "temp"], "done")
    rows = json.loads(query(service.content, workspace.workspace_id, made["id"]))
    assert rows == [{"city": "Paris", "temp": "18"}, {"city": "Rome", "temp": "25"}]


def test_a_new_url_refetches_and_keeps_old_rows_meanwhile(
    db, tx, query, workspace, clock, site
) -> None:
    made = create(tx, workspace, clock, name="c", url=site.url("/cities.csv"))
    jobs_worker = worker(db, clock)
    assert jobs_worker.run_once()
    ws, cid = workspace.workspace_id, made["id"]
    moved = tx(
        service.update_one, ws, cid, service.parse_update({"url": site.url("/cities.json")}), 1
    )
    assert (moved["rows"], moved["fetch_status"]) == (2, "pending")  # the CSV's rows, still
    assert jobs_worker.run_once()
    assert json.loads(query(service.content, ws, cid)) == ROWS
    assert query(service.get, ws, cid)["fetch_status"] == "done"


def test_refused_address_fails_the_fetch(db, tx, query, workspace, clock, site) -> None:
    made = create(tx, workspace, clock, name="ssrf", url=site.url("/cities.csv"))
    assert worker(db, clock, Allowlist()).run_once()  # no allowlist: loopback is refused
    failed = query(service.get, workspace.workspace_id, made["id"])
    assert failed["fetch_status"] == "failed"
    assert "127.0.0.1, a loopback address" in failed["fetch_error"]
    assert failed["rows"] == 0
    assert site.requests == []
    state = query(
        lambda c: c.execute(
            select(jobs.c.state).where(jobs.c.kind == service.JOB_KIND).order_by(jobs.c.id.desc())
        ).scalar()
    )
    assert state == "failed"


@pytest.mark.parametrize(
    ("path", "error"),
    [("/missing", "404"), ("/object.json", "must be an array of objects, not an object")],
)
def test_permanent_failures_keep_previous_rows(
    db, tx, query, workspace, clock, site, path, error
) -> None:
    made = create(tx, workspace, clock, name="p", data=ROWS)
    ws, cid = workspace.workspace_id, made["id"]
    tx(service.update_one, ws, cid, service.parse_update({"url": site.url(path)}), 1)
    assert worker(db, clock).run_once()
    failed = query(service.get, ws, cid)
    assert (failed["fetch_status"], failed["rows"]) == ("failed", 2)
    assert error in failed["fetch_error"]
    assert json.loads(query(service.content, ws, cid)) == ROWS


def test_server_errors_are_retried(db, tx, query, workspace, clock, site, routes) -> None:
    made = create(tx, workspace, clock, name="flaky", url=site.url("/flaky"))
    jobs_worker = worker(db, clock)
    assert jobs_worker.run_once()
    assert query(service.get, workspace.workspace_id, made["id"])["fetch_status"] == "pending"
    assert not jobs_worker.run_once()  # not due yet: backing off
    routes["/flaky"] = routes["/cities.json"]
    clock.advance(10)
    assert jobs_worker.run_once()
    assert query(service.get, workspace.workspace_id, made["id"])["fetch_status"] == "done"


def test_a_stale_fetch_changes_nothing(db, tx, query, workspace, clock, site) -> None:
    made = create(tx, workspace, clock, name="s", url=site.url("/cities.csv"))
    ws, cid = workspace.workspace_id, made["id"]
    tx(service.replace_content, ws, cid, service.parse_content([{"mine": 1}]), 1)
    assert worker(db, clock).run_once()
    assert site.requests == []  # not even fetched: the collection moved on
    shown = query(service.get, ws, cid)
    assert "url" not in shown and shown["rows"] == 1
    assert json.loads(query(service.content, ws, cid)) == [{"mine": 1}]
    # Nor does a fetch that lands after the collection moved on:
    assert not tx(
        service.store_fetched, ws, cid, site.url("/cities.csv"), service.parse_content([]), 2
    )


def test_fetch_of_a_deleted_collection_is_a_no_op(db, tx, workspace, clock, site) -> None:
    made = create(tx, workspace, clock, name="d", url=site.url("/cities.csv"))
    tx(service.delete_one, workspace.workspace_id, made["id"])
    assert worker(db, clock).run_once()
    assert site.requests == []
