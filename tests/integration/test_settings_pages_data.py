"""What the Jobs, Settings and Suppressions pages read, on both databases: jobs newest
first and keyset-paged, suppressions and blocked addresses filtered by prefix and
lifted, and a workspace's settings with every secret left out."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from sqlalchemy import insert

from tidings.db.schema import providers
from tidings.errors import ApiError
from tidings.exports import service as exports
from tidings.imports import service as imports
from tidings.imports.run import Progress
from tidings.jobs import browse, queue
from tidings.people import service as people
from tidings.people.identifiers import Identifier
from tidings.reporting import fanout, webhooks
from tidings.segments import membership
from tidings.sending import suppressions_view as view
from tidings.templates import senders
from tidings.workspaces import settings_view

NOW = int(time.time())


def test_jobs_are_listed_newest_first_a_page_at_a_time_and_only_the_workspaces(
    tx, query, workspace, other_workspace
):
    kind = f"test-{uuid.uuid4().hex[:8]}"
    ws = workspace.workspace_id
    made = [tx(queue.enqueue, ws, kind, {"n": n}, NOW) for n in range(5)]
    tx(queue.enqueue, other_workspace.workspace_id, kind, {"n": 99}, NOW)

    first = query(lambda c: browse.recent(c, ws, kind=kind, limit=2))
    assert [j["id"] for j in first["jobs"]] == made[:2:-1][:2]
    second = query(lambda c: browse.recent(c, ws, kind=kind, before=first["next"], limit=2))
    third = query(lambda c: browse.recent(c, ws, kind=kind, before=second["next"], limit=2))
    seen = [j["id"] for page in (first, second, third) for j in page["jobs"]]
    assert seen == sorted(made, reverse=True)
    assert third["next"] is None
    assert [j["payload"]["n"] for j in first["jobs"]] == [4, 3]


def test_a_failed_job_shows_its_state_and_error_and_a_urls_secrets_are_left_out(
    tx, query, workspace, other_workspace
):
    kind = f"test-{uuid.uuid4().hex[:8]}"
    ws = workspace.workspace_id
    url = "https://user:pw@data.example.test/feed.json?token=s3cret"
    job_id = tx(queue.enqueue, ws, kind, {"collection_id": 7, "url": url}, NOW)
    claimed = tx(queue.claim, [kind], NOW, 60)
    assert tx(queue.fail, claimed, NOW + 1, "HTTP 500 from the feed")

    shown = query(browse.one, ws, job_id)
    assert (shown["state"], shown["error"], shown["attempts"]) == (
        "failed",
        "HTTP 500 from the feed",
        1,
    )
    assert shown["payload"] == {"collection_id": 7, "url": "https://data.example.test/feed.json"}
    failed = query(lambda c: browse.recent(c, ws, kind=kind, state="failed"))
    assert [j["id"] for j in failed["jobs"]] == [job_id]
    assert query(lambda c: browse.recent(c, ws, kind=kind, state="queued"))["jobs"] == []
    with pytest.raises(ApiError) as refused:
        query(browse.one, other_workspace.workspace_id, job_id)
    assert refused.value.status == 404


def test_suppressions_are_filtered_by_prefix_paged_and_lifted_with_their_partner(
    tx, query, workspace, other_workspace
):
    ws = workspace.workspace_id
    known = people.IdentifyRequest({}, NOW, body_ids={"email": "Ann@X.test"})
    tx(people.identify, ws, Identifier("id", "sup-1"), known, NOW)
    tx(people.suppress, ws, Identifier("id", "sup-1"), NOW)  # the id and the email
    tx(people.suppress, ws, Identifier("email", "bob@x.test"), NOW)
    tx(people.suppress, other_workspace.workspace_id, Identifier("email", "ann@x.test"), NOW)

    everything = query(lambda c: view.suppressed(c, ws))["rows"]
    assert [(r["kind"], r["value"]) for r in everything] == [
        ("email", "ann@x.test"),
        ("email", "bob@x.test"),
        ("id", "sup-1"),
    ]
    one = query(lambda c: view.suppressed(c, ws, limit=1))
    rest = query(lambda c: view.suppressed(c, ws, after=one["next"], limit=5))
    assert [r["value"] for r in one["rows"] + rest["rows"]] == [r["value"] for r in everything]
    found = query(lambda c: view.suppressed(c, ws, prefix="ANN@"))["rows"]
    assert [r["value"] for r in found] == ["ann@x.test"]

    tx(view.unsuppress, ws, "email", "ann@x.test")
    left = query(lambda c: view.suppressed(c, ws))["rows"]
    assert [r["value"] for r in left] == ["bob@x.test"]  # sup-1 went with its email
    with pytest.raises(ApiError) as missing:
        tx(view.unsuppress, ws, "email", "ann@x.test")
    assert missing.value.status == 404
    theirs = query(lambda c: view.suppressed(c, other_workspace.workspace_id))["rows"]
    assert [r["value"] for r in theirs] == ["ann@x.test"]


def test_blocked_addresses_are_filtered_paged_and_unblocked(tx, query, workspace):
    ws = workspace.workspace_id
    for address, reason in (
        ("c@x.test", "bounced"),
        ("a@x.test", "spammed"),
        ("+15550100", "bounced"),
    ):
        tx(fanout.block, ws, address, reason, f"d-{address}", NOW)

    first = query(lambda c: view.blocked(c, ws, limit=2))
    rest = query(lambda c: view.blocked(c, ws, after=first["next"], limit=2))
    assert [r["address"] for r in first["rows"] + rest["rows"]] == [
        "+15550100",
        "a@x.test",
        "c@x.test",
    ]
    assert rest["next"] is None
    found = query(lambda c: view.blocked(c, ws, prefix="A@"))["rows"]
    assert [(r["address"], r["reason"], r["delivery_id"]) for r in found] == [
        ("a@x.test", "spammed", "d-a@x.test")
    ]
    tx(view.unblock, ws, "a@x.test")
    assert [r["address"] for r in query(lambda c: view.blocked(c, ws))["rows"]] == [
        "+15550100",
        "c@x.test",
    ]
    with pytest.raises(ApiError):
        tx(view.unblock, ws, "a@x.test")


def test_settings_show_providers_senders_and_webhooks_without_their_secrets(tx, query, workspace):
    ws = workspace.workspace_id
    config = {"host": "smtp.example.test", "port": 587, "password": "hunter2", "api_key": "k"}

    def add_provider(conn):
        conn.execute(
            insert(providers).values(
                workspace_id=ws,
                channel="email",
                kind="smtp",
                config=json.dumps(config),
                updated_at=NOW,
            )
        )

    tx(add_provider)
    tx(senders.create, ws, "Acme", "hello@acme.test", NOW)
    body = {"name": "Warehouse", "endpoint": "https://hooks.example.test/in?sig=abc"}
    hook = tx(webhooks.create, ws, webhooks.parse({**body, "events": []}, partial=False), NOW)

    shown = query(settings_view.overview, ws)
    assert shown["workspace"]["site_id"] == workspace.site_id
    assert shown["providers"] == [
        {
            "channel": "email",
            "kind": "smtp",
            "settings": {"host": "smtp.example.test", "port": 587},
            "hidden": ["api_key", "password"],
        }
    ]
    assert [(s["name"], s["email"]) for s in shown["senders"]] == [("Acme", "hello@acme.test")]
    [listed] = shown["webhooks"]
    assert listed["endpoint"] == "https://hooks.example.test/in"
    assert listed["recent_attempts"] == []
    text = json.dumps(shown)
    for secret in ("hunter2", hook["signing_key"], "sig=abc", workspace.app_api_key):
        assert secret not in text


def test_segment_builds_under_way_are_listed_until_they_finish(
    tx, query, workspace, other_workspace
):
    ws = workspace.workspace_id
    condition = {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}}
    body = {"segment": {"name": "Pro", "conditions": condition}}
    made = tx(membership.create_segment, ws, body, NOW)
    tx(membership.create_segment, ws, {"segment": {"name": "Manual"}}, NOW)
    tx(membership.create_segment, other_workspace.workspace_id, body, NOW)

    assert query(browse.segment_builds, ws) == [
        {"id": made["id"], "name": "Pro", "state": "build_queued", "progress": 0}
    ]
    tx(membership.build_segment, ws, made["id"], NOW)
    assert query(browse.segment_builds, ws) == []


def test_the_progress_of_imports_and_exports_is_read_for_a_page_of_jobs(
    tx, query, workspace, other_workspace
):
    ws = workspace.workspace_id
    req = imports.parse_request({"name": "people.csv", "type": "people", "identifier": "id"})
    made = tx(imports.create, ws, req, None, NOW)
    tx(imports.save_progress, made["id"], Progress(rows=500, imported=120, failed=3), NOW)
    export = tx(exports.create_customers_export, ws, exports.parse_customers_request({}), NOW)

    assert query(imports.progress_of, ws, [made["id"]]) == {made["id"]: "120 of 500 rows, 3 failed"}
    assert query(exports.progress_of, ws, [export["id"]]) == {export["id"]: "pending, 0 rows"}
    assert query(imports.progress_of, other_workspace.workspace_id, [made["id"]]) == {}
    assert query(exports.progress_of, ws, []) == {}
