"""Racing Track calls: concurrent requests settle the same way whatever order they commit in."""

import random
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from tests.api.test_track_v1_operations import activities, customer
from tidings.db.schema import people

N = 24


def all_ok(api, requests):
    """Send (method, path, body) triples at once; every one must be a 200."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(api.track, m, p, json=b) for m, p, b in requests]
        statuses = [f.result().status_code for f in futures]
    assert statuses == [200] * len(requests)


def person_count(conn, ws):
    query = select(func.count()).select_from(people).where(people.c.workspace_id == ws)
    return conn.execute(query).scalar_one()


def test_concurrent_first_identifies_make_one_person(api, query):
    all_ok(api, [("PUT", "/api/v1/customers/racer", {f"a{i}": i}) for i in range(N)])
    assert query(person_count, api.creds.workspace_id) == 1
    attrs = customer(api, "racer")["attributes"]
    assert {f"a{i}": str(i) for i in range(N)}.items() <= attrs.items()


def test_concurrent_identifies_by_id_and_by_email_meet_in_one_person(api, query):
    by_id = ("PUT", "/api/v1/customers/u1", {"email": "r@example.com"})
    by_email = ("PUT", "/api/v1/customers/r@example.com", {"id": "u1"})
    all_ok(api, [by_id, by_email] * (N // 2))
    assert query(person_count, api.creds.workspace_id) == 1
    assert customer(api, "u1")["identifiers"]["email"] == "r@example.com"


def test_racing_updates_settle_on_the_newest_timestamp(api):
    api.track("PUT", "/api/v1/customers/u1", json={})
    stamps = list(range(1_700_000_000, 1_700_000_000 + N))
    random.Random(7).shuffle(stamps)
    all_ok(
        api,
        [("PUT", "/api/v1/customers/u1", {"plan": f"p{ts}", "_timestamp": ts}) for ts in stamps],
    )
    shown = customer(api, "u1")
    assert shown["attributes"]["plan"] == f"p{max(stamps)}"
    assert shown["timestamps"]["plan"] == max(stamps)


def test_concurrent_retries_of_one_event_store_it_once(api):
    body = {"name": "purchase", "id": "01HRACERACERACERACERACERAC"}
    all_ok(api, [("POST", "/api/v1/customers/u1/events", body)] * N)
    assert len(activities(api, "u1")) == 1
