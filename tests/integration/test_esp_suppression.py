"""The ESP suppression list (`sending/esp.py`) over `blocked_addresses`: what feeds it,
what it blocks, how it is listed; and the data index's metadata."""

from __future__ import annotations

import pytest

from tests.conftest import new_workspace
from tests.integration.test_deliveries import (
    Provider,
    accept,
    delivery,
    email_body,
    metrics_of,
    worker_for,
)
from tidings.clock import FixedClock
from tidings.errors import ApiError
from tidings.reporting import fanout, metrics
from tidings.sending import esp
from tidings.workspaces import data_index

NOW = 1_800_000_000


@pytest.fixture(scope="module")
def db(isolated_db):
    return isolated_db


@pytest.fixture
def ws(db):
    return new_workspace(db).workspace_id


@pytest.fixture
def clock():
    return FixedClock(NOW)


def listed(query, workspace_id: int, category: str, **filters: str) -> list[str]:
    found = query(esp.by_category, workspace_id, esp.parse_category(category), filters)
    assert found["category"] == category
    return [entry["email"] for entry in found["suppressions"]]


def test_an_address_suppressed_through_the_api_is_not_sent_to_until_removed(
    db, tx, query, ws, clock
):
    tx(esp.suppress, ws, "blocked", esp.parse_email("Ann@Example.com"), NOW)
    first = accept(tx, clock, ws, email_body())
    provider = Provider()
    worker_for(db, clock, provider).run_once()
    row = delivery(query, first["delivery_id"])
    assert (row.state, row.failure_message) == (
        "suppressed",
        "the address ann@example.com is blocked (blocked)",
    )
    assert metrics_of(query, first["delivery_id"]) == ["suppressed"]
    assert provider.calls == []

    tx(esp.unsuppress, ws, "blocked", "ann@example.com")
    again = accept(tx, clock, ws, email_body())
    worker_for(db, clock, provider).run_once()
    assert delivery(query, again["delivery_id"]).state == "sent"
    assert [call[0] for call in provider.calls] == [again["delivery_id"]]


def test_a_track_bounced_metric_lists_the_recipient_under_bounces_with_its_domain(
    db, tx, query, ws, clock
):
    sent = accept(tx, clock, ws, email_body())
    worker_for(db, clock, Provider()).run_once()
    body = {"delivery_id": sent["delivery_id"], "metric": "bounced"}
    tx(lambda conn: metrics.record_metric(conn, ws, *metrics.parse_metric(body, NOW), now=NOW))

    assert listed(query, ws, "bounces") == ["ann@example.com"]
    assert listed(query, ws, "spam_reports") == []
    [entry] = query(esp.search, ws, "ann@example.com")["suppressions"]
    assert entry == {
        "email": "ann@example.com",
        "created": NOW,
        "reason": f"hard bounce reported for delivery {sent['delivery_id']}",
        "status": "550",
    }
    # The sending domain of the message that bounced (`from` shop@example.net).
    mine = query(esp.by_domain, ws, "example.net", "bounced", {})
    assert [e["email"] for e in mine["suppressions"]] == ["ann@example.com"]
    assert query(esp.by_domain, ws, "other.test", "bounced", {})["suppressions"] == []


def test_a_complaint_for_a_delivery_this_server_does_not_know_lists_its_recipient(tx, query, ws):
    body = {"delivery_id": "elsewhere", "metric": "spammed", "recipient": "Bob@Example.com"}
    tx(metrics.record_metric, ws, *metrics.parse_metric(body, NOW))
    assert listed(query, ws, "spam_reports") == ["bob@example.com"]
    assert query(esp.search, ws, "bob@example.com")["category"] == "spam_reports"


def test_adding_to_another_category_moves_the_address_and_removal_names_its_category(tx, query, ws):
    tx(esp.suppress, ws, "bounced", "c@example.com", NOW)
    tx(esp.suppress, ws, "invalid", "c@example.com", NOW + 1)
    assert listed(query, ws, "bounces") == []
    assert listed(query, ws, "invalid_emails") == ["c@example.com"]
    with pytest.raises(ApiError) as refused:
        tx(esp.unsuppress, ws, "bounced", "c@example.com")
    assert refused.value.status == 404
    tx(esp.unsuppress, ws, "invalid", "c@example.com")
    assert query(esp.search, ws, "c@example.com") == {"category": "", "suppressions": []}


def test_a_category_is_listed_by_offset_and_filtered(tx, query, ws):
    for name in ("d", "b", "a", "c"):
        tx(esp.suppress, ws, "blocked", f"{name}@example.com", NOW)
    tx(esp.suppress, ws, "bounced", "z@example.com", NOW)
    assert listed(query, ws, "blocks") == [f"{n}@example.com" for n in "abcd"]
    assert listed(query, ws, "blocks", limit="2", offset="1") == ["b@example.com", "c@example.com"]
    assert listed(query, ws, "blocks", email="C@example.com") == ["c@example.com"]
    # Suppressed through the API: for every sending domain.
    assert listed(query, ws, "blocks", domain="any.test") == [f"{n}@example.com" for n in "abcd"]


def test_the_domain_listing_pages_with_next_over_its_own_and_every_domains_entries(tx, query, ws):
    for i, domain in enumerate(["mail.test", None, "mail.test", "other.test", None]):
        tx(block_for, ws, f"{i}@example.com", domain)
    seen: list[str] = []
    start = ""
    while True:
        page = query(esp.by_domain, ws, "mail.test", "bounced", {"limit": "2", "start": start})
        assert page["category"] == "bounces"
        seen += [e["email"] for e in page["suppressions"]]
        start = page["next"]
        if not start:
            break
    assert seen == ["0@example.com", "1@example.com", "2@example.com", "4@example.com"]


def block_for(conn, workspace_id: int, address: str, domain: str | None) -> None:
    fanout.block(conn, workspace_id, address, "bounced", "dlv", NOW, domain)


@pytest.mark.parametrize(
    ("parse", "value"),
    [
        (esp.parse_category, "unsubscribes"),
        (esp.parse_email, "not-an-address"),
        (esp.parse_domain, "a@b.test"),
    ],
)
def test_bad_path_values_are_400s(parse, value):
    with pytest.raises(ApiError) as refused:
        parse(value)
    assert refused.value.status == 400


def test_suppressions_stay_in_their_workspace(tx, query, workspace, other_workspace):
    tx(esp.suppress, workspace.workspace_id, "blocked", "e@example.com", NOW)
    assert query(esp.search, other_workspace.workspace_id, "e@example.com")["suppressions"] == []
    with pytest.raises(ApiError):
        tx(esp.unsuppress, other_workspace.workspace_id, "blocked", "e@example.com")


# --- the data index ---------------------------------------------------------------


def test_attribute_metadata_is_stored_per_scope_and_a_left_out_field_is_kept(tx, query, ws):
    body = {
        "attributes": [
            {"name": "plan", "description": "What they pay for", "privacy_level": 1},
            {"name": "plan", "object_type_id": 2, "description": "The company's plan"},
            {"name": "role", "object_type_id": 2, "is_relationship": True},
            {"name": "total", "event_name": "purchase"},
        ]
    }
    tx(data_index.update, ws, data_index.parse("attribute", body), NOW)
    again = data_index.parse("attribute", {"attributes": [{"name": "plan"}]})
    tx(data_index.update, ws, again, NOW)
    assert query(data_index.described, ws, "attribute") == [
        {"scope": "", "name": "plan", "description": "What they pay for", "privacy_level": 1},
        {"scope": "event:purchase", "name": "total", "description": None, "privacy_level": None},
        {
            "scope": "object:2",
            "name": "plan",
            "description": "The company's plan",
            "privacy_level": None,
        },
        {"scope": "relationship:2", "name": "role", "description": None, "privacy_level": None},
    ]


def test_event_metadata_is_stored_and_null_clears_it(tx, query, ws):
    described = {"events": [{"name": "purchase", "description": "Checkout done"}]}
    tx(data_index.update, ws, data_index.parse("event", described), NOW)
    assert query(data_index.described, ws, "event")[0]["description"] == "Checkout done"
    cleared = data_index.parse("event", {"events": [{"name": "purchase", "description": None}]})
    tx(data_index.update, ws, cleared, NOW + 1)
    assert query(data_index.described, ws, "event")[0]["description"] is None


@pytest.mark.parametrize(
    ("kind", "body"),
    [
        ("attribute", {"attributes": []}),
        ("attribute", {"attributes": [{"name": f"a{i}"} for i in range(101)]}),
        ("attribute", {"attributes": [{"description": "no name"}]}),
        ("attribute", {"attributes": [{"name": "a", "privacy_level": "high"}]}),
        ("attribute", {"attributes": [{"name": "a", "object_type_id": 1, "event_name": "e"}]}),
        ("event", {"events": "purchase"}),
        ("event", {"attributes": [{"name": "a"}]}),
    ],
)
def test_a_bad_data_index_body_is_a_400(kind, body):
    with pytest.raises(ApiError) as refused:
        data_index.parse(kind, body)
    assert refused.value.status == 400
